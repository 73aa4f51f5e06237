"""The comparison report's data: SQL over the results database, small DataFrames out.

Every query aggregates or filters inside DuckDB, so the report costs about the same over a
year of nightly runs with a million per-request rows as over one night: only the latest result
of each (partition, scenario), the last few runs of each partition and aggregates come back.

The queries read the store's schema as it is (v1 files lack the v2 columns until the store has
migrated them): a missing column reads as NULL, and the report says "not recorded".

Pure over DataFrames below the queries: the roofline bound, Pareto frontier and sweep frames.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

import duckdb
import pandas as pd

from resources.config.metrics import LATENCY_METRICS, metric
from resources.hardware.roofline import result_bound
from resources.results.intervals import bootstrap_interval
from resources.results.regression import judge_run, load_history, scenario_outcome
from resources.results.store import ResultsStore

# What a replay must reproduce: any change between consecutive runs of a partition is drift.
DRIFT_FIELDS = ("image_digest", "weights_revision", "config_hash", "vllm_version", "hardware_fingerprint")

RUN_FIELDS = {  # column -> SQL type, for reading a column the file does not have yet as NULL
    "started_at": "TIMESTAMP",
    "finished_at": "TIMESTAMP",
    "status": "VARCHAR",
    "origin": "VARCHAR",
    "model_id": "VARCHAR",
    "image_ref": "VARCHAR",
    "image_digest": "VARCHAR",
    "weights_revision": "VARCHAR",
    "vllm_version": "VARCHAR",
    "config_hash": "VARCHAR",
    "hardware_fingerprint": "VARCHAR",
    "git_sha": "VARCHAR",
    "tensor_parallel_size": "INTEGER",
    "gpu_count": "INTEGER",
    "gpu_model": "VARCHAR",
    "device": "VARCHAR",
    "active_params_b": "DOUBLE",
    "bytes_per_param": "DOUBLE",
    "driver_version": "VARCHAR",
    "trust_remote_code": "BOOLEAN",
    "price_per_hour_usd": "DOUBLE",
}
RESULT_FIELDS = {
    "completed": "BIGINT",
    "failed": "BIGINT",
    "output_throughput": "DOUBLE",
    "request_throughput": "DOUBLE",
    "request_goodput": "DOUBLE",
    "max_concurrency": "BIGINT",
    "request_rate": "DOUBLE",
    "input_len": "INTEGER",
    "output_len": "INTEGER",
    "num_prompts": "INTEGER",
    "energy_j": "DOUBLE",
    "mean_power_w": "DOUBLE",
    "joules_per_output_token": "DOUBLE",
    **{name: "DOUBLE" for name in LATENCY_METRICS},
    "valid": "BOOLEAN",
    "invalid_reasons": "VARCHAR",
    "stream_measured": "BOOLEAN",
    "chunks_per_token": "DOUBLE",
    "other_cpu_cores": "DOUBLE",
    "loadgen_cpu_cores": "DOUBLE",
    "prefix_cache_hit_rate": "DOUBLE",
    "prefix_cache_implied": "DOUBLE",
    "prefix_cache_flag": "VARCHAR",
    "workload": "VARCHAR",
    "preemptions": "DOUBLE",
    "mean_queue_time_ms": "DOUBLE",
    "kv_cache_usage_peak": "DOUBLE",
    "repetitions": "INTEGER",
    "valid_repetitions": "INTEGER",
    "throughput_interval": "VARCHAR",
    **{f"{name}_{end}": "DOUBLE" for name in ("output_throughput", "request_throughput") for end in ("low", "high")},
}

# The last succeeded run of each (partition, scenario), with the run before it (for drift). Whether
# it got slower is the regression rule's answer (resources/results/regression.py), not SQL's.
LATEST_SQL = """
WITH last6 AS (  -- the latest result of each (partition, scenario) and up to five before it
    SELECT b.*, r.finished_at AS run_finished_at
    FROM benchmark_results b JOIN runs r ON r.run_id = b.run_id AND r.partition = b.partition
    WHERE r.status = 'succeeded'
    QUALIFY row_number() OVER (PARTITION BY b.partition, b.scenario
                               ORDER BY r.finished_at DESC, r.run_id DESC) <= 6
), ranked AS (
    SELECT b.partition, b.scenario, b.run_id, {scenario_group} AS scenario_group, {results}, {runs},
           {device} AS device_seen, {gpu_model} AS gpu_model_seen,
           lag(b.run_id) OVER w AS prev_run_id, lag(r.finished_at) OVER w AS prev_finished_at,
           lag(b.output_throughput) OVER w AS prev_output_throughput,
           lag(b.median_tpot_ms) OVER w AS prev_median_tpot_ms,
           lag(b.median_ttft_ms) OVER w AS prev_median_ttft_ms,
           {prev_drift}
    FROM last6 b
    JOIN runs r ON r.run_id = b.run_id AND r.partition = b.partition
    LEFT JOIN hardware_reports h ON h.run_id = b.run_id AND h.partition = b.partition
    WINDOW w AS (PARTITION BY b.partition, b.scenario ORDER BY b.run_finished_at, b.run_id)
)
SELECT * FROM ranked
QUALIFY row_number() OVER (PARTITION BY partition, scenario ORDER BY finished_at DESC, run_id DESC) = 1
ORDER BY scenario, partition
"""

# Each partition's last N runs (any status), with drift against its previous succeeded run.
# Each deployment's recent server starts (reused servers did not start), newest first.
STARTS_SQL = """
SELECT partition, run_id, finished_at, startup_s, startup_phases, compile_cache, cold_start, kv_cache_tokens
FROM (SELECT *, row_number() OVER (PARTITION BY partition ORDER BY finished_at DESC) AS recency
      FROM runs WHERE status = 'succeeded' AND startup_s IS NOT NULL AND NOT coalesce(service_reused, false))
WHERE recency <= ?
ORDER BY partition, finished_at DESC
"""

RECENT_RUNS_SQL = """
WITH ok AS (
    SELECT run_id, partition, lag(run_id) OVER w AS prev_run_id, {lags}
    FROM runs WHERE status = 'succeeded'
    WINDOW w AS (PARTITION BY partition ORDER BY finished_at, run_id)
), recent AS (
    SELECT r.run_id, r.partition, {runs},
           row_number() OVER (PARTITION BY r.partition ORDER BY r.finished_at DESC NULLS LAST, r.run_id DESC)
               AS recency
    FROM runs r
)
SELECT recent.*, ok.prev_run_id, {drift_flags}
FROM recent LEFT JOIN ok USING (run_id, partition)
WHERE recency <= ?
ORDER BY partition, finished_at DESC
"""

# Every drift event in the whole history, newest first (capped), and how many there are.
DRIFT_EVENTS_SQL = """
WITH ok AS (
    SELECT run_id, partition, finished_at, {plain}, lag(run_id) OVER w AS prev_run_id, {lags}
    FROM runs WHERE status = 'succeeded'
    WINDOW w AS (PARTITION BY partition ORDER BY finished_at, run_id)
)
SELECT *, {drift_flags}, count(*) OVER () AS total_events
FROM ok WHERE prev_run_id IS NOT NULL AND ({any_drift})
ORDER BY finished_at DESC
LIMIT ?
"""

RECENT_RESULTS_SQL = """
WITH recent AS (
    SELECT run_id, partition FROM runs
    QUALIFY row_number() OVER (PARTITION BY partition ORDER BY finished_at DESC NULLS LAST, run_id DESC) <= ?
)
SELECT b.partition, b.run_id, b.scenario, r.finished_at, {scenario_group} AS scenario_group,
       {results}
FROM benchmark_results b SEMI JOIN recent USING (run_id, partition)
JOIN runs r ON r.run_id = b.run_id AND r.partition = b.partition
ORDER BY b.partition, r.finished_at
"""

RUN_COUNTS_SQL = """
SELECT partition, count(*) AS runs, count(*) FILTER (WHERE status = 'succeeded') AS succeeded,
       min(finished_at) AS first_run, max(finished_at) AS last_run
FROM runs GROUP BY partition ORDER BY partition
"""

# The latest succeeded run of each (partition, scenario), as a CTE the per-request queries share.
LATEST_CTE = """
WITH latest AS (
    SELECT b.run_id, b.partition, b.scenario
    FROM benchmark_results b JOIN runs r ON r.run_id = b.run_id AND r.partition = b.partition
    WHERE r.status = 'succeeded'
    QUALIFY row_number() OVER (PARTITION BY b.partition, b.scenario ORDER BY r.finished_at DESC, r.run_id DESC) = 1
)
"""

# Per-request view of the latest results, aggregated in DuckDB (the table can hold millions of rows).
REQUESTS_SQL = (
    LATEST_CTE
    + """
SELECT q.partition, q.scenario, count(*) AS requests, count(q.error) AS errors,
       quantile_cont(q.ttft_ms, 0.5) AS p50_ttft_ms, quantile_cont(q.ttft_ms, 0.9) AS p90_ttft_ms,
       quantile_cont(q.ttft_ms, 0.99) AS p99_ttft_ms, quantile_cont(q.tpot_ms, 0.5) AS p50_tpot_ms,
       quantile_cont(q.tpot_ms, 0.9) AS p90_tpot_ms, max(q.latency_ms) AS max_latency_ms,
       min(q.error) AS first_error
FROM benchmark_requests q SEMI JOIN latest USING (run_id, partition, scenario)
GROUP BY q.partition, q.scenario
ORDER BY q.scenario, q.partition
"""
)


# The per-request values behind the latest results' latency intervals (a bootstrap in Python, over
# the latest runs only: a few thousand values).
LATEST_REQUEST_VALUES_SQL = (
    LATEST_CTE
    + """
SELECT q.partition, q.scenario,
       list(q.ttft_ms) FILTER (WHERE q.ttft_ms IS NOT NULL AND q.error IS NULL) AS ttft_ms,
       list(q.tpot_ms) FILTER (WHERE q.tpot_ms IS NOT NULL AND q.error IS NULL) AS tpot_ms
FROM benchmark_requests q SEMI JOIN latest USING (run_id, partition, scenario)
GROUP BY q.partition, q.scenario
"""
)
# Latency statistics the latest-results table shows with a bootstrap interval.
INTERVAL_LATENCIES = ("mean_ttft_ms", "p99_ttft_ms", "median_tpot_ms", "p99_tpot_ms")

# Each deployment's latest evaluation of its answers (resources/evaluation/): one row per partition.
LATEST_ACCURACY_SQL = """
SELECT partition, run_id, eval_set, items, correct, errors, accuracy, accuracy_low, accuracy_high, verdict,
       paired_items, lost, gained, changed_texts, p_value, suspects, recorded_at
FROM accuracy_runs
QUALIFY row_number() OVER (PARTITION BY partition ORDER BY recorded_at DESC, run_id DESC) = 1
ORDER BY partition
"""

# The accuracy of each partition's last N runs, for the history tables.
RECENT_ACCURACY_SQL = """
WITH recent AS (
    SELECT run_id, partition FROM runs
    QUALIFY row_number() OVER (PARTITION BY partition ORDER BY finished_at DESC NULLS LAST, run_id DESC) <= ?
)
SELECT a.partition, a.run_id, a.accuracy, a.verdict FROM accuracy_runs a SEMI JOIN recent USING (run_id, partition)
"""


@dataclass
class ComparisonData:
    """What the report shows; each frame is small whatever the size of the history."""

    latest: pd.DataFrame  # one row per (partition, scenario): latest result, deltas, bound, Pareto
    recent_runs: pd.DataFrame  # each partition's last N runs, drift flags
    recent_results: pd.DataFrame  # the scenario rows of those runs
    drift_events: pd.DataFrame  # newest drift events over the whole history
    drift_total: int
    run_counts: pd.DataFrame  # per partition: runs, succeeded, first and last
    requests: pd.DataFrame  # per-request aggregates of the latest results (empty without rows)
    history_runs: int
    verdicts: pd.DataFrame = field(default_factory=pd.DataFrame)  # the regression rule, per metric of latest
    starts: pd.DataFrame = field(default_factory=pd.DataFrame)  # each deployment's recent server starts
    accuracy: pd.DataFrame = field(default_factory=pd.DataFrame)  # each deployment's latest evaluation
    recent_accuracy: pd.DataFrame = field(default_factory=pd.DataFrame)  # the evaluations of the recent runs
    parameter_sweeps: list = field(default_factory=list)  # a SweepSummary per sweep (sweep_summary.py)
    generated_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

    @property
    def empty(self) -> bool:
        return self.latest.empty


class _Reader:
    """One read-only connection for all the report's queries (opening the file costs more than most
    queries). The file is read as it is, not migrated: missing columns read as NULL."""

    def __init__(self, store: ResultsStore):
        self.connection = store.connect_read_only()

    def query(self, sql: str, params: list | None = None) -> pd.DataFrame:
        try:
            return self.connection.execute(sql, params or []).df()
        except duckdb.CatalogException:
            return pd.DataFrame()

    def close(self) -> None:
        self.connection.close()


def _columns(store: _Reader) -> dict[str, set[str]]:
    frame = store.query("SELECT table_name, column_name FROM information_schema.columns")
    columns: dict[str, set[str]] = {}
    for table, column in zip(frame.get("table_name", []), frame.get("column_name", [])):
        columns.setdefault(table, set()).add(column)
    return columns


def _select(alias: str, fields: dict[str, str], present: set[str]) -> str:
    return ", ".join(
        f"{alias}.{name}" if name in present else f"CAST(NULL AS {kind}) AS {name}" for name, kind in fields.items()
    )


def _or_null(alias: str, name: str, kind: str, present: set[str]) -> str:
    return f"{alias}.{name}" if name in present else f"CAST(NULL AS {kind})"


def _queries(columns: dict[str, set[str]]) -> dict[str, str]:
    run_cols, result_cols = columns.get("runs", set()), columns.get("benchmark_results", set())
    runs = _select("r", RUN_FIELDS, run_cols)
    # A sweep point is "<group>/<point>"; files from before scenario_group say so only in the name.
    # A single-point scenario is its own group in the store; here its group is NULL, so "has a group"
    # means "is a point of a sweep".
    group = (
        f"nullif(coalesce(b.scenario_group, {_split_group('b.scenario')}), b.scenario)"
        if "scenario_group" in result_cols
        else _split_group("b.scenario")
    )
    # Files from before v2 know the device only through the hardware report.
    device = (
        f"coalesce({_or_null('r', 'device', 'VARCHAR', run_cols)}, "
        "CASE WHEN h.nvidia_driver_present = false THEN 'cpu' END)"
    )
    gpu_model = (
        f"coalesce({_or_null('r', 'gpu_model', 'VARCHAR', run_cols)}, "
        "CASE WHEN h.nvidia_driver_present THEN json_extract_string(h.report_json, '$.gpus[0].name') END)"
    )
    drift = {f: _or_null("r", f, "VARCHAR", run_cols) for f in DRIFT_FIELDS}
    lags = ", ".join(f"lag({drift[f].removeprefix('r.')}) OVER w AS prev_{f}" for f in DRIFT_FIELDS)
    plain = ", ".join(f"{drift[f].removeprefix('r.')} AS {f}" for f in DRIFT_FIELDS)
    flags = ", ".join(f"(prev_run_id IS NOT NULL AND {f} IS DISTINCT FROM prev_{f}) AS drift_{f}" for f in DRIFT_FIELDS)
    any_drift = " OR ".join(f"{f} IS DISTINCT FROM prev_{f}" for f in DRIFT_FIELDS)
    prev_drift = ", ".join(f"lag({drift[f]}) OVER w AS prev_{f}" for f in DRIFT_FIELDS)
    return {
        "latest": LATEST_SQL.format(
            scenario_group=group,
            results=_select("b", RESULT_FIELDS, result_cols),
            runs=runs,
            device=device,
            gpu_model=gpu_model,
            prev_drift=prev_drift,
        ),
        "recent_runs": RECENT_RUNS_SQL.format(
            runs=runs,
            lags=lags,
            drift_flags=", ".join(
                f"(ok.prev_run_id IS NOT NULL AND recent.{f} IS DISTINCT FROM ok.prev_{f}) AS drift_{f}, ok.prev_{f}"
                for f in DRIFT_FIELDS
            ),
        ),
        "drift_events": DRIFT_EVENTS_SQL.format(plain=plain, lags=lags, drift_flags=flags, any_drift=any_drift),
        "recent_results": RECENT_RESULTS_SQL.format(
            scenario_group=group,
            results=_select(
                "b",
                {
                    k: RESULT_FIELDS[k]
                    for k in (
                        "completed",
                        "failed",
                        "output_throughput",
                        "median_ttft_ms",
                        "median_tpot_ms",
                        "p99_ttft_ms",
                    )
                },
                result_cols,
            ),
        ),
    }


def _split_group(column: str) -> str:
    return f"CASE WHEN contains({column}, '/') THEN split_part({column}, '/', 1) END"


def load_comparison(
    store: ResultsStore, history_runs: int = 10, drift_events: int = 50, policies: dict | None = None
) -> ComparisonData:
    """Reads what the report needs; an empty ``latest`` if nothing was recorded yet. ``policies``
    maps a partition to its deployment's RegressionPolicy (the default policy otherwise), so the
    report judges each result exactly as that deployment's no_regression check does."""
    empty = pd.DataFrame()
    if not store.path.exists():
        return ComparisonData(empty, empty, empty, empty, 0, empty, empty, history_runs)
    reader = _Reader(store)
    try:
        return _load(reader, history_runs, drift_events, policies or {})
    finally:
        reader.close()


def judge_latest(connection, latest: pd.DataFrame, policies: dict) -> pd.DataFrame:
    """The regression rule's verdicts for each latest (partition, scenario) result: one row per metric."""
    from resources.config.models import RegressionPolicy

    if latest.empty:
        return pd.DataFrame()
    history, values = load_history(connection)
    rows = []
    for partition, scenario, run_id in zip(latest["partition"], latest["scenario"], latest["run_id"]):
        policy = policies.get(partition) or RegressionPolicy()
        judgement = judge_run(history, values, partition, run_id, policy.thresholds, policy.window, [scenario])
        rows += [vars(v) | {"figure": v.figure(), "description": v.describe()} for v in judgement.verdicts]
    return pd.DataFrame(rows)


def add_verdicts(latest: pd.DataFrame, verdicts: pd.DataFrame) -> pd.DataFrame:
    """Adds ``verdict`` (one word per result, see regression.scenario_outcome)."""
    if latest.empty:
        return latest
    frame = latest.copy()
    by_key = {} if verdicts.empty else {key: group for key, group in verdicts.groupby(["partition", "scenario"])}
    outcomes = []
    for partition, scenario in zip(frame["partition"], frame["scenario"]):
        group = by_key.get((partition, scenario))
        outcomes.append(scenario_outcome([] if group is None else group["outcome"]))
    frame["verdict"] = outcomes
    return frame


def _load(store: _Reader, history_runs: int, drift_events: int, policies: dict) -> ComparisonData:
    empty = pd.DataFrame()
    columns = _columns(store)
    if not {"runs", "benchmark_results"} <= set(columns):
        return ComparisonData(empty, empty, empty, empty, 0, empty, empty, history_runs)
    sql = _queries(columns)
    latest = store.query(sql["latest"])
    drift = store.query(sql["drift_events"], [drift_events])
    requests = store.query(REQUESTS_SQL) if "benchmark_requests" in columns else empty
    verdicts = judge_latest(store.connection, latest, policies)
    values = store.query(LATEST_REQUEST_VALUES_SQL) if "benchmark_requests" in columns else empty
    return ComparisonData(
        latest=add_latency_intervals(add_verdicts(add_pareto(add_bounds(latest)), verdicts), values),
        verdicts=verdicts,
        recent_runs=store.query(sql["recent_runs"], [history_runs]),
        recent_results=store.query(sql["recent_results"], [history_runs]),
        drift_events=drift,
        drift_total=int(drift["total_events"].iloc[0]) if not drift.empty else 0,
        run_counts=store.query(RUN_COUNTS_SQL),
        requests=requests,
        history_runs=history_runs,
        starts=store.query(STARTS_SQL, [history_runs]) if "startup_phases" in columns["runs"] else empty,
        # A file from before evaluations has no accuracy_runs (the report reads it unmigrated).
        accuracy=store.query(LATEST_ACCURACY_SQL) if "accuracy_runs" in columns else empty,
        recent_accuracy=store.query(RECENT_ACCURACY_SQL, [history_runs]) if "accuracy_runs" in columns else empty,
        parameter_sweeps=_parameter_sweeps(store, columns),
    )


def _parameter_sweeps(store: _Reader, columns: dict[str, set[str]]) -> list:
    from resources.results.sweep_summary import summarize_sweep

    if "sweep" not in columns["runs"] or "capacity_results" not in columns:
        return []  # a file from before sweeps
    names = store.query("SELECT DISTINCT sweep FROM runs WHERE sweep IS NOT NULL ORDER BY sweep")["sweep"]
    return [summary for name in names if not (summary := summarize_sweep(store, name)).empty]


# ---------------------------------------------------------------- pure frames over the latest rows


def records(frame: pd.DataFrame) -> list[dict]:
    """Rows as dicts; much faster than ``DataFrame.to_dict("records")`` on wide frames."""
    columns = list(frame.columns)
    return [dict(zip(columns, values)) for values in frame.to_numpy(dtype=object).tolist()]


def add_latency_intervals(latest: pd.DataFrame, values: pd.DataFrame) -> pd.DataFrame:
    """Adds ``<metric>_low`` / ``<metric>_high`` for the latencies in ``INTERVAL_LATENCIES``: the 95 %
    bootstrap interval over the result's per-request values (all repetitions' requests pooled, as
    the regression rule reads them); NULL under eight values or without per-request rows."""
    frame = latest.copy()
    by_key = (
        {}
        if values.empty
        else {(p, sc): row for p, sc, row in zip(values["partition"], values["scenario"], records(values))}
    )
    for name in INTERVAL_LATENCIES:
        m = metric(name)
        bounds = []
        for partition, scenario in zip(frame["partition"], frame["scenario"]):
            row = by_key.get((partition, scenario)) or {}
            per_request = row.get(m.per_request)
            bounds.append(bootstrap_interval(per_request, m.statistic) if per_request is not None else None)
        frame[f"{name}_low"] = [b[0] if b else None for b in bounds]
        frame[f"{name}_high"] = [b[1] if b else None for b in bounds]
    return frame


def add_bounds(latest: pd.DataFrame) -> pd.DataFrame:
    """Adds the decode bound per result: bound_tok_s, decode_tok_s (1000 / mean TPOT), bound_fraction,
    bound_label ("49%" or "n/a (no GPU)"), gpu (table name) and bandwidth_tbps."""
    if latest.empty:
        return latest
    frame = latest.copy()
    bounds = [
        result_bound(
            device=row.get("device_seen"),
            gpu_model=row.get("gpu_model_seen"),
            tensor_parallel_size=row.get("tensor_parallel_size"),
            active_params_b=row.get("active_params_b"),
            bytes_per_param=row.get("bytes_per_param"),
            mean_tpot_ms=row.get("mean_tpot_ms"),
        )
        for row in records(frame)
    ]
    frame["gpu"] = [b.gpu for b in bounds]
    frame["bandwidth_tbps"] = [b.bandwidth_tbps for b in bounds]
    frame["bound_tok_s"] = pd.array([b.bound_tok_s for b in bounds], dtype="Float64")
    frame["decode_tok_s"] = pd.array([b.measured_tok_s for b in bounds], dtype="Float64")
    frame["bound_fraction"] = pd.array([b.fraction for b in bounds], dtype="Float64")
    frame["bound_label"] = [b.label() for b in bounds]
    return frame


def devices(frame: pd.DataFrame) -> pd.Series:
    """Accelerators a result ran on: its GPU count, else its TP size; a CPU host counts as 1."""
    gpus = pd.to_numeric(frame.get("gpu_count"), errors="coerce") if "gpu_count" in frame else None
    tp = pd.to_numeric(frame.get("tensor_parallel_size"), errors="coerce") if "tensor_parallel_size" in frame else None
    count = pd.Series(1.0, index=frame.index)
    if tp is not None:
        count = tp.where(tp >= 1, count).fillna(count)
    if gpus is not None:
        count = gpus.where(gpus >= 1, count).fillna(count)
    if "device_seen" in frame:
        count = count.where(frame["device_seen"].fillna("") != "cpu", 1.0)
    return count.astype(float)


def pareto_frontier(x: pd.Series, y: pd.Series) -> pd.Series:
    """True where no other point is at least as good on both axes and better on one (higher is better)."""
    valid = [i for i in x.index if pd.notna(x[i]) and pd.notna(y[i])]
    best_y, on = float("-inf"), pd.Series(False, index=x.index)
    for i in sorted(valid, key=lambda i: (-x[i], -y[i])):
        if y[i] > best_y:
            on[i], best_y = True, y[i]
    return on


def shape_label(row: dict | pd.Series) -> str:
    """Results are only comparable for the same model, host and request shape (input/output length)."""
    isl, osl = row.get("input_len"), row.get("output_len")
    shape = f"ISL/OSL {int(isl)}/{int(osl)}" if pd.notna(isl) and pd.notna(osl) else "ISL/OSL not recorded"
    return f"{row.get('model_id') or 'model ?'} · {shape} · host {str(row.get('hardware_fingerprint'))[:8]}"


def add_pareto(latest: pd.DataFrame) -> pd.DataFrame:
    """Adds interactivity (1000 / median TPOT ms, tokens/s per user), throughput per GPU
    (output tok/s / devices), the comparable group, and whether a point is on its group's frontier."""
    if latest.empty:
        return latest
    frame = latest.copy()
    tpot = pd.to_numeric(frame["median_tpot_ms"], errors="coerce")
    # A coalesced stream did not measure TPOT: no interactivity rather than an absurd one.
    tpot = tpot.where(frame["stream_measured"].astype(object).ne(False)) if "stream_measured" in frame else tpot
    frame["interactivity"] = (1000.0 / tpot.where(tpot > 0)).astype(float)
    frame["devices"] = devices(frame)
    frame["throughput_per_device"] = pd.to_numeric(frame["output_throughput"], errors="coerce") / frame["devices"]
    frame["shape"] = [shape_label(row) for row in records(frame)]
    frame["on_frontier"] = False
    for _, group in valid_results(frame).groupby("shape", sort=False):
        frame.loc[group.index, "on_frontier"] = pareto_frontier(group["interactivity"], group["throughput_per_device"])
    return frame


def valid_results(latest: pd.DataFrame) -> pd.DataFrame:
    """Results that are valid measurements (results recorded before validity was checked count as
    valid); the only ones "best", the Pareto frontier and the sweep curves look at."""
    if latest.empty or "valid" not in latest:
        return latest
    return latest[latest["valid"].astype(object).ne(False)]


def invalid_results(latest: pd.DataFrame) -> pd.DataFrame:
    if latest.empty or "valid" not in latest:
        return latest.iloc[0:0]
    return latest[latest["valid"].astype(object).eq(False)]


def pareto_points(latest: pd.DataFrame) -> pd.DataFrame:
    """The points the Pareto chart draws: valid results with both coordinates measured."""
    if latest.empty:
        return latest
    return valid_results(latest).dropna(subset=["interactivity", "throughput_per_device"])


def sweeps(latest: pd.DataFrame) -> pd.DataFrame:
    """Latest points of scenario groups that vary concurrency or request rate (two points or more),
    ordered by load; ``load`` is the concurrency, else the request rate."""
    if latest.empty or "scenario_group" not in latest:
        return pd.DataFrame()
    latest = valid_results(latest)
    points = latest[latest["scenario_group"].notna() & ~is_conversation(latest)].copy()
    if points.empty:
        return points
    concurrency = pd.to_numeric(points["max_concurrency"], errors="coerce").astype("float64")
    rate = pd.to_numeric(points["request_rate"], errors="coerce").astype("float64")
    points["load"] = concurrency.where(concurrency.notna(), rate)
    sizes = points.groupby(["partition", "scenario_group"])["scenario"].transform("count")
    return points[sizes >= 2].sort_values(["scenario_group", "partition", "load"])


def is_conversation(latest: pd.DataFrame) -> pd.Series:
    """Rows of multi-turn scenarios: their points are turns, not loads."""
    if "workload" not in latest:
        return pd.Series(False, index=latest.index)
    return latest["workload"].eq("multi_turn").fillna(False).astype(bool)


def conversation_turns(latest: pd.DataFrame) -> pd.DataFrame:
    """The latest turns of each multi-turn scenario, in turn order (``turn`` from ``<name>/t<K>``)."""
    if latest.empty:
        return pd.DataFrame()
    turns = latest[is_conversation(latest)].copy()
    if turns.empty:
        return turns
    turns["turn"] = turns["scenario"].str.extract(r"/t(\d+)$")[0].astype(float)
    return turns.dropna(subset=["turn"]).sort_values(["partition", "scenario_group", "turn"])


def best_by_scenario(latest: pd.DataFrame) -> pd.DataFrame:
    """Per comparable group and scenario: which partition is fastest, and by how much."""
    latest = valid_results(latest)
    columns = [
        "shape",
        "scenario",
        "deployments",
        "most_output",
        "output_throughput",
        "lowest_tpot",
        "median_tpot_ms",
        "lowest_ttft",
        "median_ttft_ms",
    ]
    if latest.empty:
        return pd.DataFrame(columns=columns)
    rows = []
    for (shape, scenario), group in latest.groupby(["shape", "scenario"], sort=True):
        top = group.loc[pd.to_numeric(group["output_throughput"]).idxmax()]
        tpot = pd.to_numeric(group["median_tpot_ms"])
        snappiest = group.loc[tpot.idxmin()] if tpot.notna().any() else top
        ttft = pd.to_numeric(group["median_ttft_ms"])
        first = group.loc[ttft.idxmin()] if ttft.notna().any() else top
        rows.append(
            {
                "shape": shape,
                "scenario": scenario,
                "deployments": len(group),
                "most_output": top["partition"],
                "output_throughput": top["output_throughput"],
                "lowest_tpot": snappiest["partition"],
                "median_tpot_ms": snappiest["median_tpot_ms"],
                "lowest_ttft": first["partition"],
                "median_ttft_ms": first["median_ttft_ms"],
            }
        )
    return pd.DataFrame(rows)
