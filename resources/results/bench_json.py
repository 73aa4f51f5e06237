"""Parses the JSON that ``vllm bench serve --save-result`` writes into one result row.

Metric definitions are vLLM's (recorded with each row as ``metric_definitions = 'vllm'``):
TTFT is the time to the first streamed chunk; TPOT is (latency - TTFT) / (output tokens - 1)
per request; ITL is the gaps between chunks, pooled over requests; E2EL is request latency.
"""

from __future__ import annotations

import math

from resources.config.metrics import LATENCIES, STATS
from resources.results.validity import request_chunks, request_streamed

RESULT_COLUMNS = (
    "completed",
    "failed",
    "duration_s",
    "total_input_tokens",
    "total_output_tokens",
    "request_throughput",
    "output_throughput",
    "total_token_throughput",
    "max_concurrency",
    "request_rate",
    "request_goodput",
) + tuple(f"{stat}_{metric}_ms" for metric in LATENCIES for stat in STATS)


class BenchResultError(ValueError):
    """The result file is not what ``vllm bench serve --save-result`` writes."""


class BenchmarkRequestsFailed(RuntimeError):
    """Some requests of a benchmark failed: its numbers describe a broken server, not a slow one."""


def failed_requests(parsed: dict, raw: dict, scenario: str) -> None:
    """Raises if any request failed, with the first error vLLM's benchmark recorded."""
    if parsed["failed"] == 0 and parsed["completed"] > 0:
        return
    errors = [e for e in raw.get("errors") or [] if e]
    first = errors[0].strip().splitlines()[-1] if errors else "no error text recorded"
    raise BenchmarkRequestsFailed(
        f"scenario {scenario}: {parsed['failed']} of {parsed['completed'] + parsed['failed']} requests failed "
        f"(first error: {first}); the server may have stopped or run out of memory during the benchmark"
    )


def _number(value) -> float | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = math.inf if value == "inf" else float(value)
    return float(value)


def parse_bench_result(data: dict, source: str = "result file") -> dict:
    """One row: counts, throughputs, and mean/median/p99 of TTFT, TPOT, ITL and E2EL in ms."""
    missing = [k for k in ("completed", "duration", "output_throughput", "mean_ttft_ms") if k not in data]
    if missing:
        raise BenchResultError(f"{source}: not a vllm bench serve result; missing {', '.join(missing)}")
    row = {
        "completed": int(data["completed"]),
        "failed": int(data.get("failed") or 0),
        "duration_s": float(data["duration"]),
        "total_input_tokens": int(data.get("total_input_tokens") or 0),
        "total_output_tokens": int(data.get("total_output_tokens") or 0),
        "request_throughput": _number(data.get("request_throughput")),
        "output_throughput": _number(data.get("output_throughput")),
        "total_token_throughput": _number(data.get("total_token_throughput")),
        "max_concurrency": data.get("max_concurrency"),
        "request_rate": _number(data.get("request_rate")),
        "request_goodput": _number(data.get("request_goodput")),
    }
    for metric in LATENCIES:
        for stat in STATS:
            row[f"{stat}_{metric}_ms"] = _number(data.get(f"{stat}_{metric}_ms"))
    return row


REQUEST_COLUMNS = (
    "request_index",
    "input_len",
    "output_len",
    "ttft_ms",
    "latency_ms",
    "tpot_ms",
    "itl_mean_ms",
    "start_time_s",
    "error",
    "chunks",
    "streamed",
)


def parse_request_rows(data: dict) -> list[dict]:
    """Per-request rows from a result saved with ``--save-detailed``; empty without it.

    TPOT per request follows vLLM: (latency - TTFT) / (output tokens - 1), for requests with
    more than one output token. Failed requests keep their error and no timings. ``chunks`` is
    how many streamed chunks the reply came in (the first, then one per recorded gap);
    ``streamed`` whether it really streamed (see ``validity.request_streamed``).
    """
    if "ttfts" not in data or "latencies" not in data:
        return []
    count = len(data["latencies"])
    column = lambda key: data.get(key) or [None] * count  # noqa: E731 - a local shorthand
    inputs, outputs, ttfts = column("input_lens"), column("output_lens"), column("ttfts")
    latencies, itls, starts, errors = data["latencies"], column("itls"), column("start_times"), column("errors")
    rows = []
    for i in range(count):
        error = errors[i] or None
        ttft, latency, output = ttfts[i], latencies[i], outputs[i]
        ok = not error and ttft is not None and latency is not None
        gaps = itls[i] or []
        rows.append(
            {
                "request_index": i,
                "input_len": inputs[i],
                "output_len": output,
                "ttft_ms": ttft * 1000 if ok else None,
                "latency_ms": latency * 1000 if ok else None,
                "tpot_ms": (latency - ttft) / (output - 1) * 1000 if ok and output and output > 1 else None,
                "itl_mean_ms": sum(gaps) / len(gaps) * 1000 if ok and gaps else None,
                "start_time_s": starts[i],
                "error": error,
                "chunks": request_chunks(gaps) if ok else None,
                "streamed": request_streamed(itls[i], output) if ok else None,
            }
        )
    return rows
