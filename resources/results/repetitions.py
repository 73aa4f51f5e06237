"""One result from a load point run several times in the same run (``repeat: N``; pure).

Each repetition is its own ``vllm bench serve`` call with its own seed; its row is kept in
``benchmark_repetitions``. Everything else (latest results, the regression rule, validity, the
Pareto frontier, sweeps) reads the one combined row in ``benchmark_results``, under the
scenario's own name:

- throughput (request, output, total token): the median of the VALID repetitions, with a 95 %
  interval across them: Student's t interval of their mean (mean ± t·s/√n) from three
  repetitions (cut at zero); with two, the min-max of the values (it claims no coverage level:
  two runs cannot give one);
- latencies (TTFT, TPOT, E2EL statistics): computed over the valid repetitions' per-request rows
  pooled, so the regression rule's bootstrap (``intervals.py``) and rank test see every request;
  ITL statistics (vLLM pools the gaps between chunks, which the per-request rows hold only as a
  mean) and any latency without per-request rows: the median across the valid repetitions;
- every other measured number (energy, vLLM's counters, CPU use): the median across the valid
  repetitions; completed and failed requests: the sums over ALL repetitions, so no failure hides;
- valid when at least half the repetitions are valid; the invalid ones are named in the reasons.
"""

from __future__ import annotations

import math

import numpy as np

from resources.config.metrics import LATENCY_METRICS, METRICS, THROUGHPUT_METRICS
from resources.figures import missing, number
from resources.results.intervals import t_quantile

# Per-request column -> the latency statistics computed from it when the repetitions are pooled.
_POOLED = {
    m.per_request: [name for name in LATENCY_METRICS if METRICS[name].per_request == m.per_request]
    for m in METRICS.values()
    if m.per_request and m.per_request != "itl_mean_ms"
}
_SUMMED = ("completed", "failed", "total_input_tokens", "total_output_tokens")
# Identity and validity columns: taken from the first repetition or set below, never a median.
_NOT_MEDIAN = {
    "run_id",
    "partition",
    "scenario",
    "seed",
    "valid",
    "invalid_reasons",
    "stream_measured",
    "result_file",
    "bench_args",
    "max_concurrency",
    "request_rate",
    "num_prompts",
    "input_len",
    "output_len",
    "warmups",
}


def throughput_interval(values, level: float = 0.95) -> tuple[float, float, str] | None:
    """(low, high, method) across repetitions: a t interval of the mean from 3 values, the
    min-max below; None for fewer than 2 values."""
    values = np.asarray([v for v in values if not missing(v)], dtype=float)
    if len(values) < 2:
        return None
    if len(values) < 3:
        return float(values.min()), float(values.max()), "min-max"
    half = t_quantile(0.5 + level / 2, len(values) - 1) * float(np.std(values, ddof=1)) / math.sqrt(len(values))
    mean = float(values.mean())
    return max(mean - half, 0.0), mean + half, "t"  # a throughput is never below zero


def pooled_statistic(values, stat: str) -> float | None:
    """mean / median / p99 of per-request values (as vLLM computes them: numpy, linear percentile)."""
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    if not len(values):
        return None
    if stat == "mean":
        return float(values.mean())
    if stat == "median":
        return float(np.median(values))
    return float(np.percentile(values, float(stat[1:])))


def combine_repetitions(rows: list[dict], requests: list[list[dict]]) -> dict:
    """The one result of a load point from its repetitions' rows (``rows[i]`` with per-request
    rows ``requests[i]``). One repetition is returned unchanged."""
    if len(rows) == 1:
        return dict(rows[0])
    valid = [i for i, row in enumerate(rows) if row.get("valid") is not False]
    enough = 2 * len(valid) >= len(rows) and valid
    used = valid if enough else list(range(len(rows)))  # an invalid result still shows its numbers
    combined = dict(rows[0])
    for column in rows[0]:
        if column in _NOT_MEDIAN or column in _SUMMED:
            continue
        numbers = [number(rows[i].get(column)) for i in used]
        numbers = [n for n in numbers if n is not None]
        if numbers:
            combined[column] = float(np.median(numbers))
    for column in _SUMMED:
        if column in rows[0]:
            combined[column] = int(sum(r.get(column) or 0 for r in rows))
    pooled_requests = [r for i in used for r in requests[i] if r.get("error") is None]
    for per_request, names in _POOLED.items():
        values = [r.get(per_request) for r in pooled_requests if r.get(per_request) is not None]
        if values:
            for name in names:
                if name in combined:
                    combined[name] = pooled_statistic(values, METRICS[name].statistic)
    for name in THROUGHPUT_METRICS:
        interval = throughput_interval([number(rows[i].get(name)) for i in used])
        combined[f"{name}_low"], combined[f"{name}_high"] = interval[:2] if interval else (None, None)
    combined["throughput_interval"] = (
        throughput_interval([number(rows[i].get("output_throughput")) for i in used]) or (None, None, None)
    )[2]
    combined["repetitions"] = len(rows)
    combined["valid_repetitions"] = len(valid)
    measured = [rows[i].get("stream_measured") for i in used if rows[i].get("stream_measured") is not None]
    combined["stream_measured"] = all(measured) if measured else None
    reasons = [
        f"repetition {i + 1}: {rows[i].get('invalid_reasons') or 'invalid'}" for i in range(len(rows)) if i not in valid
    ]
    combined["valid"] = bool(enough)
    if not enough:
        reasons.insert(0, f"only {len(valid)} of {len(rows)} repetitions valid")
    combined["invalid_reasons"] = "; ".join(reasons) or None
    return combined


def repetition_row(row: dict, repetition: int) -> dict:
    """What ``benchmark_repetitions`` keeps of one repetition."""
    return {"repetition": repetition, **{c: row.get(c) for c in REPETITION_COLUMNS}}


REPETITION_COLUMNS = (
    "run_id",
    "partition",
    "scenario",
    "seed",
    "completed",
    "failed",
    "duration_s",
    "request_throughput",
    "output_throughput",
    "total_token_throughput",
    "mean_ttft_ms",
    "median_ttft_ms",
    "p99_ttft_ms",
    "median_tpot_ms",
    "p99_tpot_ms",
    "valid",
    "invalid_reasons",
    "stream_measured",
    "result_file",
)
