"""The one regression rule: did a run get slower than its own recent history? Both the
``no_regression`` asset check and the comparison report call ``judge_run``, so they cannot
disagree.

Baseline: the last ``window`` VALID runs of the same partition and scenario on the same hardware
model (GPU model and count, or the CPU model) with the same workload (its kind, parameters and
trace file: the same requests), finished before the judged run, whatever the
image, vLLM version, weights or driver: an upgrade is exactly what must be caught, and what
changed since the baseline is listed as the suspects.

A change is called ("slower" / "faster") only when it beats both the threshold and the noise,
each noise test at a 5 % error rate shared among the policy's metrics (Bonferroni: with three
metrics, each at 1.67 %, since any one of them fails the check):
- threshold: the relative change of the metric against the median of the baseline runs is
  larger than the policy's threshold for that metric;
- noise, per request: for a latency metric with per-request rows, a two-sided Mann-Whitney U
  rank test of the run's per-request values against the baseline runs' pooled per-request
  values gives p below the metric's share of ``ALPHA``;
- noise, within the run: the baseline median lies outside the run's own 95 % interval for that
  statistic (a bootstrap over its per-request values, see ``intervals.py``): a p99 over 32
  requests is nearly their maximum and moves a lot by chance; for a throughput of a load point
  run several times (``repeat: N``), its interval across the repetitions (``repetitions.py``);
- noise, run to run: the change is also larger than the half-width of the baseline runs' 95 %
  prediction interval (where one more unchanged run would fall), and at least
  ``MIN_BASELINE_RUNS`` baseline runs are needed to know it. Per-request values cannot replace
  it: on a shared host whole runs shift together, and a rank test alone calls every such shift.
Otherwise the verdict is "within noise", or "inconclusive: too noisy" when the change beat the
threshold but not the noise (or the baseline is too short to know the noise), or when the
baseline's own spread is wider than the threshold (it cannot see a threshold-sized change).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from resources.config.metrics import metric
from resources.figures import missing, number
from resources.results.intervals import bootstrap_interval, prediction_halfwidth

ALPHA = 0.05
MIN_BASELINE_RUNS = 3  # fewer runs say nothing about run-to-run noise
NOISE_RUNS = 20  # valid runs the run-to-run noise is estimated from (the baseline median uses ``window``)
HISTORY_LIMIT = 200  # newest results per (partition, scenario) read back; far more than any window

SLOWER, FASTER, WITHIN_NOISE, TOO_NOISY = "slower", "faster", "within noise", "inconclusive: too noisy"
NO_BASELINE, INVALID, NOT_MEASURED = "no baseline", "invalid", "not measured"

# What may explain a change: (column in runs, name shown to users).
SUSPECTS = (
    ("image_digest", "image digest"),
    ("vllm_version", "vLLM version"),
    ("weights_revision", "weights revision"),
    ("config_hash", "config hash"),
    ("driver_version", "driver"),
    ("cuda_version", "CUDA"),
    ("kv_cache_tokens", "engine KV-cache tokens"),
    ("max_concurrency_capacity", "engine maximum concurrency"),
    # A result column: the first load on a freshly started server pays one-time kernel
    # compilation in its first batches (on an H200, a TTFT 13x the warm one).
    ("first_load_after_start", "first load on a freshly started server"),
)
_RUN_COLUMNS = {
    "finished_at": "TIMESTAMP",
    "hardware_model": "VARCHAR",
    "hardware_fingerprint": "VARCHAR",
    "gpu_model": "VARCHAR",
    "gpu_count": "INTEGER",
    "device": "VARCHAR",
    "image_digest": "VARCHAR",
    "vllm_version": "VARCHAR",
    "weights_revision": "VARCHAR",
    "config_hash": "VARCHAR",
    "driver_version": "VARCHAR",
    "cuda_version": "VARCHAR",
    "kv_cache_tokens": "BIGINT",
    "max_concurrency_capacity": "DOUBLE",
    "image_ref": "VARCHAR",
    "git_sha": "VARCHAR",
}
_RESULT_COLUMNS = {"valid": "BOOLEAN", "invalid_reasons": "VARCHAR", "stream_measured": "BOOLEAN"}
PER_REQUEST_COLUMNS = ("ttft_ms", "tpot_ms", "itl_mean_ms", "latency_ms")


@dataclass(frozen=True)
class Verdict:
    partition: str
    scenario: str
    run_id: str
    metric: str
    outcome: str
    threshold: float
    latest: float | None = None
    baseline: float | None = None  # median of the baseline runs
    change: float | None = None  # signed relative change, +0.2 = 20 % higher
    noise: float | None = None  # half-width of the prediction interval of the noise runs, relative to the median
    interval: tuple[float, float] | None = None  # bootstrap interval of the run's own statistic
    p_value: float | None = None  # Mann-Whitney U on per-request values
    baseline_runs: int = 0
    suspects: tuple[str, ...] = ()
    note: str = ""

    @property
    def called(self) -> bool:
        return self.outcome in (SLOWER, FASTER)

    def figure(self) -> str:
        """The numbers behind the verdict, in one phrase."""
        if self.outcome in (INVALID, NOT_MEASURED, NO_BASELINE):
            return self.note
        unit = metric(self.metric).unit
        parts = [
            f"{self.latest:.4g} {unit} vs {self.baseline:.4g} (median of {self.baseline_runs} valid "
            f"run{'s' if self.baseline_runs != 1 else ''}), {self.change:+.1%}; threshold ±{self.threshold:.0%}"
        ]
        if self.interval is not None:
            parts.append(f"its interval {self.interval[0]:.4g}-{self.interval[1]:.4g}")
        parts.append(
            f"run-to-run noise ±{self.noise:.1%}"
            if self.noise is not None
            else f"run-to-run noise unknown (fewer than {MIN_BASELINE_RUNS} baseline runs)"
        )
        if self.p_value is not None:
            parts.append(f"rank test p={self.p_value:.2g}")
        return "; ".join(parts)

    def describe(self) -> str:
        text = f"{self.scenario}: {metric(self.metric).label} {self.outcome}: {self.figure()}"
        if self.called:
            text += ". Suspects: " + (
                "; ".join(self.suspects)
                or "nothing recorded changed (same image, vLLM, weights, config, driver, engine capacity)"
            )
        return text


@dataclass
class RunJudgement:
    """All verdicts of one run's scenarios."""

    verdicts: list[Verdict] = field(default_factory=list)

    @property
    def regressions(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.outcome == SLOWER]

    def for_scenario(self, scenario: str) -> list[Verdict]:
        return [v for v in self.verdicts if v.scenario == scenario]


def scenario_outcome(outcomes) -> str:
    """One verdict for a result from its metrics' outcomes: invalid, then slower, faster,
    inconclusive, within noise."""
    outcomes = set(outcomes)
    for outcome in (INVALID, SLOWER, FASTER, TOO_NOISY, WITHIN_NOISE, NOT_MEASURED):
        if outcome in outcomes:
            return outcome
    return NO_BASELINE


# ---------------------------------------------------------------- reading the history


def history_sql(run_columns: set[str], result_columns: set[str]) -> str:
    """Results with provenance, newest ``HISTORY_LIMIT`` per (partition, scenario); a column a
    results file does not have yet reads as NULL, so older files are judged with what they have."""

    def pick(alias, name, kind, present):
        return f"{alias}.{name}" if name in present else f"CAST(NULL AS {kind}) AS {name}"

    runs = ", ".join(pick("r", n, k, run_columns) for n, k in _RUN_COLUMNS.items())
    validity = ", ".join(pick("b", n, k, result_columns) for n, k in _RESULT_COLUMNS.items())
    return f"""
SELECT b.* EXCLUDE ({", ".join(n for n in _RESULT_COLUMNS if n in result_columns) or "run_id"}),
       {"b.run_id, " if not any(n in result_columns for n in _RESULT_COLUMNS) else ""}{runs}, {validity}
FROM benchmark_results b JOIN runs r ON r.run_id = b.run_id AND r.partition = b.partition
WHERE r.status = 'succeeded' AND (CAST(? AS VARCHAR) IS NULL OR b.partition = ?)
QUALIFY row_number() OVER (PARTITION BY b.partition, b.scenario ORDER BY r.finished_at DESC, b.run_id DESC)
        <= {HISTORY_LIMIT}
ORDER BY b.partition, b.scenario, r.finished_at, b.run_id
"""


def _columns(connection) -> dict[str, set[str]]:
    rows = connection.execute("SELECT table_name, column_name FROM information_schema.columns").fetchall()
    found: dict[str, set[str]] = {}
    for table, column in rows:
        found.setdefault(table, set()).add(column)
    return found


def load_history(connection, partition: str | None = None) -> tuple[pd.DataFrame, dict]:
    """(results with provenance and validity, per-request values by (run_id, scenario)) for one
    partition or all, read through an open DuckDB connection."""
    columns = _columns(connection)
    if not {"runs", "benchmark_results"} <= set(columns):
        return pd.DataFrame(), {}
    history = connection.execute(
        history_sql(columns["runs"], columns["benchmark_results"]), [partition, partition]
    ).df()
    history["hardware_model"] = hardware_model(history)
    values: dict = {}
    present = columns.get("benchmark_requests", set())
    wanted = [c for c in PER_REQUEST_COLUMNS if c in present]
    if not history.empty and wanted:
        aggregates = ", ".join(f"list({c}) FILTER (WHERE {c} IS NOT NULL AND error IS NULL) AS {c}" for c in wanted)
        frame = connection.execute(
            f"SELECT run_id, partition, scenario, {aggregates} FROM benchmark_requests "
            "WHERE (CAST(? AS VARCHAR) IS NULL OR partition = ?) GROUP BY run_id, partition, scenario",
            [partition, partition],
        ).df()
        for row in frame.itertuples(index=False):
            values[(row.partition, row.run_id, row.scenario)] = {
                c: np.asarray(getattr(row, c), dtype=float) for c in wanted if getattr(row, c) is not None
            }
    return history, values


def workload_identity(frame: pd.DataFrame) -> pd.Series:
    """What requests a result sent: its workload's kind, parameters and trace file. A result from before
    workloads were recorded sent vLLM's random prompts, and reads as such."""

    def column(name: str) -> pd.Series:
        return frame[name].astype(object) if name in frame else pd.Series(None, index=frame.index, dtype=object)

    kind = column("workload").where(column("workload").notna(), "random")
    params = column("workload_params").where(~column("workload_params").isin([None, "{}"]), "")
    sha = column("workload_sha256").where(column("workload_sha256").notna(), "")
    return kind.astype(str) + "|" + params.fillna("").astype(str) + "|" + sha.astype(str)


def hardware_model(history: pd.DataFrame) -> pd.Series:
    """What makes two hosts comparable: the recorded model ("2 x NVIDIA H100 80GB HBM3", "cpu: ...");
    for results recorded before that column, the GPU model and count, else the host fingerprint."""
    if history.empty:
        return pd.Series(dtype=object)
    recorded = history["hardware_model"].astype(object)
    gpu = [
        f"{int(n)} x {m}" if isinstance(m, str) and pd.notna(n) else None
        for m, n in zip(history["gpu_model"], history["gpu_count"])
    ]
    fallback = pd.Series(gpu, index=history.index, dtype=object).fillna(history["hardware_fingerprint"])
    return recorded.where(recorded.notna(), fallback)


# ---------------------------------------------------------------- the rule


def judge_run(
    history: pd.DataFrame,
    values: dict,
    partition: str,
    run_id: str,
    thresholds: dict[str, float],
    window: int,
    scenarios: list[str] | None = None,
) -> RunJudgement:
    """Verdicts for each scenario (all of the run's, or those named) and each metric with a threshold."""
    judgement = RunJudgement()
    if history.empty:
        return judgement
    mine = history[(history["partition"] == partition)]
    mine = mine.assign(_workload=workload_identity(mine))
    latest_rows = mine[mine["run_id"] == run_id]
    for row in latest_rows.to_dict("records"):
        if scenarios is not None and row["scenario"] not in scenarios:
            continue
        earlier = mine[
            (mine["scenario"] == row["scenario"])
            & (mine["run_id"] != run_id)
            & (mine["finished_at"] < row["finished_at"])
            & (mine["hardware_model"] == row["hardware_model"])
            & (mine["_workload"] == row["_workload"])  # only like with like: the same requests
            & (mine["valid"].fillna(True).astype(bool))
        ]
        alpha = ALPHA / max(len(thresholds), 1)
        for name, threshold in thresholds.items():
            judgement.verdicts.append(_judge_metric(row, earlier, values, name, threshold, window, alpha))
    return judgement


def _judge_metric(
    row: dict, earlier: pd.DataFrame, values: dict, name: str, threshold: float, window: int, alpha: float
) -> Verdict:
    m = metric(name)
    base = dict(
        partition=row["partition"], scenario=row["scenario"], run_id=row["run_id"], metric=name, threshold=threshold
    )
    if row.get("valid") is False:
        return Verdict(**base, outcome=INVALID, note=f"not judged: {row.get('invalid_reasons')}")
    if m.needs_streaming and row.get("stream_measured") is False:
        return Verdict(**base, outcome=NOT_MEASURED, note="not judged: the stream was coalesced")
    if name not in earlier:  # a results file from before the metric was recorded
        return Verdict(**base, outcome=NOT_MEASURED, note="not recorded")
    if m.needs_streaming:
        earlier = earlier[earlier["stream_measured"].fillna(True).astype(bool)]
    measured = earlier[pd.to_numeric(earlier[name], errors="coerce").notna()].sort_values("finished_at")
    earlier = measured.tail(window)
    # The noise comes from a longer stretch of valid runs than the baseline: five runs rarely show
    # the occasional bad run a shared host has, and the next one would be called a regression.
    noise_runs = measured.tail(max(window, NOISE_RUNS))[name].astype(float).to_numpy()
    value = number(row.get(name))
    if value is None:
        return Verdict(**base, outcome=NOT_MEASURED, note="not recorded")
    if earlier.empty:
        return Verdict(
            **base,
            outcome=NO_BASELINE,
            latest=value,
            note=f"no earlier valid run of this scenario on {row.get('hardware_model')}",
        )
    runs = earlier[name].astype(float).to_numpy()
    median = float(np.median(runs))
    if median == 0:
        return Verdict(**base, outcome=NOT_MEASURED, latest=value, note="baseline median is zero")
    change = (value - median) / median
    worse = m.worse_change(change)
    half = prediction_halfwidth(noise_runs, 1 - alpha) if len(runs) >= MIN_BASELINE_RUNS else None
    noise = None if half is None else half / abs(median)
    p_value, interval = None, None
    if m.per_request:
        now = values.get((row["partition"], row["run_id"], row["scenario"]), {}).get(m.per_request)
        pooled = [values.get((row["partition"], r, row["scenario"]), {}).get(m.per_request) for r in earlier["run_id"]]
        pooled = [p for p in pooled if p is not None and len(p)]
        if now is not None and len(now):
            interval = bootstrap_interval(now, m.statistic, level=1 - alpha)
            if pooled:
                p_value = mann_whitney_p(now, np.concatenate(pooled))
    elif number(row.get(f"{name}_low")) is not None and number(row.get(f"{name}_high")) is not None:
        # A throughput measured several times in the run (repeat: N): its interval across repetitions.
        interval = (number(row[f"{name}_low"]), number(row[f"{name}_high"]))
    beats_noise = (
        noise is not None
        and abs(change) > noise
        and (p_value is None or p_value < alpha)
        and (interval is None or not interval[0] <= median <= interval[1])
    )
    if abs(worse) > threshold and beats_noise:
        outcome = SLOWER if worse > 0 else FASTER
    elif abs(worse) > threshold or (noise is not None and noise > threshold):
        outcome = TOO_NOISY
    else:
        outcome = WITHIN_NOISE
    suspects = what_changed(row, earlier) if outcome in (SLOWER, FASTER) else ()
    return Verdict(
        **base,
        outcome=outcome,
        latest=value,
        baseline=median,
        change=change,
        noise=noise,
        interval=interval,
        p_value=p_value,
        baseline_runs=len(runs),
        suspects=suspects,
    )


def what_changed(row: dict, earlier: pd.DataFrame) -> tuple[str, ...]:
    """The suspects: provenance that differs between the run and its baseline runs."""
    changes = []
    for column, label in SUSPECTS:
        if column not in earlier:
            continue
        before = sorted({_text(v) for v in earlier[column] if _text(v) is not None})
        now = _text(row.get(column))
        if before and now is not None and before != [now]:
            changes.append(f"{label} {', '.join(before)} -> {now}")
    return tuple(changes)


def _text(value) -> str | None:
    if missing(value):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def mann_whitney_p(x: np.ndarray, y: np.ndarray) -> float:
    """Two-sided p-value of the Mann-Whitney U test (normal approximation with tie correction and
    continuity correction; fine from about 8 values a side, and per-request samples are larger)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    n1, n2 = len(x), len(y)
    if n1 == 0 or n2 == 0:
        return 1.0
    combined = np.concatenate([x, y])
    ranks = _average_ranks(combined)
    u1 = ranks[:n1].sum() - n1 * (n1 + 1) / 2
    mean = n1 * n2 / 2
    _, counts = np.unique(combined, return_counts=True)
    n = n1 + n2
    tie = (counts**3 - counts).sum() / (n * (n - 1)) if n > 1 else 0.0
    variance = n1 * n2 / 12 * ((n + 1) - tie)
    if variance <= 0:
        return 1.0
    z = (abs(u1 - mean) - 0.5) / math.sqrt(variance)
    return float(min(1.0, math.erfc(max(z, 0.0) / math.sqrt(2))))


def _average_ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values), dtype=float)
    ranks[order] = np.arange(1, len(values) + 1)
    sorted_values = values[order]
    # ties share the average of their ranks
    starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
    ends = np.r_[starts[1:], len(values)]
    for start, end in zip(starts, ends):
        if end - start > 1:
            ranks[order[start:end]] = (start + 1 + end) / 2
    return ranks


def judge_recorded(store, partition: str, run_id: str, thresholds: dict[str, float], window: int) -> RunJudgement:
    """``judge_run`` over what a ResultsStore holds for the partition (what the asset check calls)."""
    if not store.path.exists():
        return RunJudgement()
    connection = store.connect_read_only()
    try:
        history, values = load_history(connection, partition)
    finally:
        connection.close()
    return judge_run(history, values, partition, run_id, thresholds, window)
