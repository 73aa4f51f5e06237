"""Traces to replay: arrival times, lengths and shared prompt blocks, in the Mooncake form that vLLM's
``timed_trace`` dataset reads (one JSON object a line: ``timestamp`` in seconds, ``input_length``,
``output_length``, ``hash_ids``: one id per 16-token block, equal ids meaning equal blocks).

``bursty_trace`` writes synthetic ones (pure, seeded): arrivals with gamma-distributed gaps, as
``vllm bench serve --burstiness`` draws them (shape ``burstiness``; below 1 the requests come in
bursts, 1 is a Poisson process), and a system prompt that every request shares.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from pathlib import Path

BLOCK_TOKENS = 16  # vLLM's --timed-trace-chunk-hash-size default: the tokens one hash id stands for
REQUIRED = ("timestamp", "input_length", "output_length")


class TraceError(ValueError):
    """A trace file is missing or not in the form vLLM's timed_trace reads; the message names the line."""


@dataclass(frozen=True)
class Trace:
    path: Path
    sha256: str
    requests: list[dict]

    @property
    def longest(self) -> int:
        """The most tokens one request needs (prompt and output)."""
        return max(r["input_length"] + r["output_length"] for r in self.requests)

    @property
    def duration_s(self) -> float:
        return self.requests[-1]["timestamp"] - self.requests[0]["timestamp"] if self.requests else 0.0

    def leading_repeats(self) -> list[int]:
        """Per request, in order, the tokens at its start in blocks an earlier request already sent:
        what a prefix cache that never evicts could serve (it matches from the start only)."""
        seen: set = set()
        repeats = []
        for request in self.requests:
            blocks = request.get("hash_ids") or []
            leading = 0
            while leading < len(blocks) and blocks[leading] in seen:
                leading += 1
            repeats.append(min(leading * BLOCK_TOKENS, request["input_length"]))
            seen.update(blocks)
        return repeats

    def repeated_share(self) -> float:
        """The share of prompt tokens a prefix cache could serve (``leading_repeats``)."""
        total = sum(r["input_length"] for r in self.requests)
        return sum(self.leading_repeats()) / total if total else 0.0


def read_trace(path: Path) -> Trace:
    if not path.is_file():
        raise TraceError(f"{path}: no such trace; write one with `python -m pipelines make-trace {path.stem}`")
    data = path.read_bytes()
    requests = []
    for number, line in enumerate(data.decode().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            request = json.loads(line)
        except json.JSONDecodeError as exc:
            raise TraceError(f"{path}: line {number}: not JSON ({exc.msg})") from None
        missing = [field for field in REQUIRED if field not in request]
        if missing:
            raise TraceError(
                f"{path}: line {number}: missing {', '.join(missing)} (each line needs {', '.join(REQUIRED)})"
            )
        if requests and request["timestamp"] < requests[-1]["timestamp"]:
            raise TraceError(f"{path}: line {number}: timestamp goes back in time; sort the trace by timestamp")
        requests.append(request)
    if not requests:
        raise TraceError(f"{path}: the trace has no requests")
    return Trace(path, hashlib.sha256(data).hexdigest(), requests)


def bursty_trace(
    requests: int,
    rate: float,
    burstiness: float,
    input_len: int,
    output_len: int,
    shared_prefix: int = 0,
    jitter: float = 0.25,
    seed: int = 0,
) -> list[dict]:
    """``requests`` arrivals at ``rate`` per second on average; lengths within ``jitter`` of the
    given ones; the first ``shared_prefix`` prompt tokens the same blocks in every request."""
    rng = random.Random(seed)
    shared_blocks = shared_prefix // BLOCK_TOKENS
    rows, clock, next_id = [], 0.0, shared_blocks
    for _ in range(requests):
        length = max(shared_blocks * BLOCK_TOKENS + 1, round(input_len * rng.uniform(1 - jitter, 1 + jitter)))
        own_blocks = -(-length // BLOCK_TOKENS) - shared_blocks
        rows.append(
            {
                "timestamp": round(clock, 4),
                "input_length": length,
                "output_length": max(1, round(output_len * rng.uniform(1 - jitter, 1 + jitter))),
                "hash_ids": list(range(shared_blocks)) + list(range(next_id, next_id + own_blocks)),
            }
        )
        next_id += own_blocks
        clock += rng.gammavariate(burstiness, 1 / (rate * burstiness))
    return rows


def write_trace(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
