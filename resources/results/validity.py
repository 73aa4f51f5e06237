"""Is a benchmark result a valid measurement? (pure)

A result that misses one of these is INVALID, not slow (MLPerf LoadGen's rule): it is kept, with
its reasons, and left out of "best", the Pareto frontier, the sweep curves and the regression
baseline.

- every request completed and none failed;
- the stream really streamed: vLLM sends one SSE chunk per token, but on a loaded CPU it may
  send a whole reply in a handful of chunks, or the chunks may reach the load generator in one
  burst; TPOT/ITL are then not measured at all (they read as near zero). A reply streamed when
  it came in at least half as many chunks as tokens (its chunks are its ``itls`` entries plus
  the first) AND its gaps were real steps: the median gap at least a fifth of the mean gap (a
  burst is many near-zero gaps and one long wait) and at least 0.1 ms (no decode step is that
  short; a few microseconds is the load generator reading chunks that waited in its socket);
- the run lasted long enough to mean something;
- the load generator was not the bottleneck: its CPU time over the measured window (it is one
  asyncio process: a full core means it could not keep up), and for a request-rate scenario
  the rate it actually sent at against the configured one;
- nothing else competed for the host: the host's busy CPU beyond what the server and the load
  generator used themselves (on 2 cores the pair alone keeps both busy; that is the measurement).
"""

from __future__ import annotations

import math
import re
import statistics
from dataclasses import dataclass


@dataclass(frozen=True)
class ValidityLimits:
    min_chunks_per_token: float = 0.5  # a reply in fewer chunks than half its tokens did not stream
    min_gap_evenness: float = 0.2  # median gap / mean gap below this: the chunks came in a burst
    min_median_gap_s: float = 1e-4  # a median gap below this is buffered reading, not decoding
    max_coalesced_fraction: float = 0.10  # of requests, before TPOT/ITL count as not measured
    min_duration_s: float = 0.5
    min_completed: int = 8
    max_loadgen_cores: float = 0.90  # of one core
    max_other_cores_fraction: float = 0.10  # of the host's cores, used by neither server nor load generator
    rate_sigmas: float = 3.0  # how far below the configured rate (in Poisson standard errors) is too slow


@dataclass(frozen=True)
class Validity:
    valid: bool
    reasons: tuple[str, ...]
    stream_measured: bool | None  # None: no per-request rows to tell
    chunks_per_token: float | None  # median over requests

    @property
    def reason_text(self) -> str | None:
        return "; ".join(self.reasons) or None

    def as_row(self) -> dict:
        return {
            "valid": self.valid,
            "invalid_reasons": self.reason_text,
            "stream_measured": self.stream_measured,
            "chunks_per_token": self.chunks_per_token,
        }


def request_chunks(itls: list | None) -> int:
    """SSE chunks of one reply as ``vllm bench serve`` saw them: the first, then one per gap."""
    return 1 + len(itls or [])


def request_streamed(gaps: list | None, output_len: int | None, limits: ValidityLimits | None = None) -> bool | None:
    """Did one reply really stream? None when there is nothing to tell (one token, no timings)."""
    limits = limits or ValidityLimits()
    if not output_len or output_len <= 1 or gaps is None:
        return None
    if request_chunks(gaps) < limits.min_chunks_per_token * output_len:
        return False
    if not gaps:
        return False
    mean, median = sum(gaps) / len(gaps), statistics.median(gaps)
    return median >= limits.min_median_gap_s and median >= limits.min_gap_evenness * mean


def stream_check(requests: list[dict], limits: ValidityLimits) -> tuple[bool | None, float | None, str | None]:
    """(streamed?, median chunks per output token, reason when not) from per-request rows with
    ``chunks``, ``streamed`` and ``output_len``."""
    judged = [r for r in requests if not r.get("error") and r.get("streamed") is not None]
    if not judged:
        return None, None, None
    median = statistics.median(r["chunks"] / r["output_len"] for r in judged)
    coalesced = [r for r in judged if not r["streamed"]]
    if len(coalesced) / len(judged) <= limits.max_coalesced_fraction:
        return True, median, None
    few = [r for r in coalesced if r["chunks"] < limits.min_chunks_per_token * r["output_len"]]
    kinds = []
    if few:
        kinds.append(
            f"{len(few)} in a handful of chunks (median {statistics.median(r['chunks'] for r in few):g} "
            f"chunks for {statistics.median(r['output_len'] for r in few):g} tokens)"
        )
    if len(coalesced) > len(few):
        kinds.append(f"{len(coalesced) - len(few)} in bursts (most gaps near zero, the wait in a few)")
    return (
        False,
        median,
        (
            f"stream coalesced: {len(coalesced)} of {len(judged)} replies did not stream: "
            f"{', '.join(kinds)}; TPOT and ITL were not measured"
        ),
    )


def judge_validity(
    result: dict,
    requests: list[dict],
    usage: dict | None = None,
    configured_rate: float | None = None,
    limits: ValidityLimits = ValidityLimits(),
) -> Validity:
    """``result``: a parsed result row; ``requests``: its per-request rows (may be empty);
    ``usage``: host CPU use over the run (``HostUsage.as_row()``), None when not measured."""
    reasons = []
    completed, failed = int(result.get("completed") or 0), int(result.get("failed") or 0)
    if failed:
        reasons.append(f"{failed} of {completed + failed} requests failed")
    if completed < limits.min_completed:
        reasons.append(f"only {completed} requests completed (at least {limits.min_completed} needed)")
    duration = result.get("duration_s")
    if duration is not None and duration < limits.min_duration_s:
        reasons.append(f"the run lasted {duration:.2f} s (at least {limits.min_duration_s:g} s needed)")
    streamed, per_token, stream_reason = stream_check(requests, limits)
    if stream_reason:
        reasons.append(stream_reason)
    if usage:
        loadgen = usage.get("loadgen_cpu_cores")
        if loadgen is not None and loadgen > limits.max_loadgen_cores:
            reasons.append(f"the load generator used {loadgen:.2f} of its one core: it may have been the bottleneck")
        others, cores = usage.get("other_cpu_cores"), usage.get("cpu_count") or 1
        if others is not None and others > limits.max_other_cores_fraction * cores:
            reasons.append(
                f"other work used {others:.2f} of the host's {cores} cores during the run "
                f"(beyond the server's {usage.get('server_cpu_cores') or 0:.2f} and the load "
                f"generator's {usage.get('loadgen_cpu_cores') or 0:.2f})"
            )
    sent = sent_rate(requests)
    if configured_rate is not None and math.isfinite(configured_rate) and sent is not None:
        n = sum(1 for r in requests if r.get("start_time_s") is not None)
        floor = configured_rate * max(0.5, 1 - limits.rate_sigmas / math.sqrt(max(n - 1, 1)))
        if sent < floor:
            reasons.append(f"the load generator sent {sent:.2f} req/s against the configured {configured_rate:g} req/s")
    return Validity(not reasons, tuple(reasons), streamed, per_token)


def sent_rate(requests: list[dict]) -> float | None:
    """Requests per second the load generator actually sent, from the requests' start times."""
    starts = sorted(r["start_time_s"] for r in requests if r.get("start_time_s") is not None)
    if len(starts) < 3 or starts[-1] <= starts[0]:
        return None
    return (len(starts) - 1) / (starts[-1] - starts[0])


# A short name for each reason ``judge_validity`` writes, found by the words that start it: the
# report names an invalid result's reasons once in its row and leaves the full text to a footnote.
# Searched anywhere in the text, as a repeated scenario joins its repetitions' reasons in one text.
REASON_NAMES = (
    (r"\d+ of \d+ requests failed", "requests failed"),
    (r"only \d+ requests completed", "too few requests"),
    (r"the run lasted", "too short"),
    (r"stream coalesced", "stream coalesced"),
    (r"the load generator used", "load generator saturated"),
    (r"other work used", "host busy"),
    (r"the load generator sent", "rate not reached"),
)


def reason_names(text: str | None) -> list[str]:
    """The short names of the reasons in ``invalid_reasons``, in the order they appear; a reason
    this rule does not know (an older file's wording) is named by its first words."""
    if not text:
        return []
    found = sorted((match.start(), name) for pattern, name in REASON_NAMES if (match := re.search(pattern, text)))
    if found:
        return [name for _, name in found]
    first = text.split(":")[0].split(";")[0].strip()
    return [first if len(first) <= 40 else first[:40].rstrip() + "…"]
