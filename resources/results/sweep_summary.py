"""A sweep's latest results, point by point, and its winner per objective, from the results database.

Each point's latest succeeded run counts. Only valid measurements enter a comparison
(``validity.py``): an invalid repetition is left out of its point's values, and a TPOT that was not
measured (a coalesced stream) is no TPOT at all. Throughput is per GPU, or per host on a CPU.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pandas as pd

from resources.config.sweep import describe_settings
from resources.results.sweep_winner import Capacity, Measured, Verdict, compare_capacity, compare_measured

LATEST_POINTS_SQL = """
SELECT partition, run_id, config_hash, sweep_settings, coalesce(nullif(gpu_count, 0), 1) AS units, device,
       finished_at
FROM (SELECT *, row_number() OVER (PARTITION BY partition ORDER BY finished_at DESC) AS newest
      FROM runs WHERE sweep = ? AND status = 'succeeded')
WHERE newest = 1 ORDER BY partition
"""
# A point's recent runs of the same server (config hash): their repetitions are pooled, so a
# replayed point's spread includes what changes from one server start to the next.
RECENT_RUNS_SQL = """
SELECT partition, run_id FROM (
    SELECT r.partition, r.run_id, row_number() OVER (PARTITION BY r.partition ORDER BY r.finished_at DESC) AS age
    FROM runs r JOIN (SELECT unnest(?) AS partition, unnest(?) AS config_hash) latest
      ON r.partition = latest.partition AND r.config_hash = latest.config_hash
    WHERE r.status = 'succeeded')
WHERE age <= ?
"""
RESULTS_SQL = """
SELECT run_id, partition, scenario, scenario_group, max_concurrency, output_throughput, median_tpot_ms,
       median_ttft_ms, valid, stream_measured
FROM benchmark_results WHERE run_id IN (SELECT unnest(?))
"""
REPETITIONS_SQL = """
SELECT run_id, partition, scenario, output_throughput, median_tpot_ms, valid, stream_measured
FROM benchmark_repetitions WHERE run_id IN (SELECT unnest(?))
"""
# Points whose latest run failed: reported beside the comparison, never silently missing from it.
FAILED_POINTS_SQL = """
SELECT partition, error FROM (
    SELECT partition, status, error,
           row_number() OVER (PARTITION BY partition ORDER BY finished_at DESC NULLS LAST) AS newest
    FROM runs WHERE sweep = ?)
WHERE newest = 1 AND status = 'failed' ORDER BY partition
"""
CAPACITY_SQL = """
SELECT run_id, partition, scenario, goal, ttft_ms, tpot_ms, e2el_ms, max_concurrency, output_throughput, levels,
       valid, sentence
FROM capacity_results WHERE run_id IN (SELECT unnest(?))
"""


@dataclass
class SweepSummary:
    name: str
    points: pd.DataFrame  # one row per point: its settings, run, and per objective its value
    verdicts: list[Verdict] = field(default_factory=list)
    curves: pd.DataFrame = field(default_factory=pd.DataFrame)  # each point's search levels: load and latency
    failed: dict[str, str] = field(default_factory=dict)  # point -> error, where its latest run failed

    @property
    def empty(self) -> bool:
        return self.points.empty and not self.failed


def _label(settings: str | None) -> str:
    return describe_settings(json.loads(settings)) if settings else "(base)"


def _values(rows: pd.DataFrame, column: str, per: float = 1.0, need_stream: bool = False) -> tuple[float, ...]:
    keep = rows[rows["valid"].fillna(True).astype(bool)]
    if need_stream:
        keep = keep[keep["stream_measured"].fillna(False).astype(bool)]
    return tuple(float(v) / per for v in keep[column].dropna())


def summarize_sweep(store, name: str, window: int = 5) -> SweepSummary:
    """``store``: anything with ``query(sql, params) -> DataFrame`` (a ResultsStore). A point's
    measurements are its scenario's repetitions over its last ``window`` runs of the same server;
    its capacity and curve are its latest run's."""
    points = store.query(LATEST_POINTS_SQL, [name])
    failed = {
        row.partition: str(row.error or "run failed")[:300]
        for row in store.query(FAILED_POINTS_SQL, [name]).itertuples()
    }
    if points.empty:
        return SweepSummary(name, points, failed=failed)
    runs = list(points["run_id"])
    recent = store.query(RECENT_RUNS_SQL, [list(points["partition"]), list(points["config_hash"]), window])
    points = points.merge(
        recent.groupby("partition").size().rename("runs pooled").reset_index(), on="partition", how="left"
    )
    pooled = list(recent["run_id"])
    results = store.query(RESULTS_SQL, [pooled])
    repetitions = store.query(REPETITIONS_SQL, [pooled])
    latest_results = results[results["run_id"].isin(runs)]
    capacity = store.query(CAPACITY_SQL, [runs])
    points["label"] = points["sweep_settings"].map(_label)
    labels = dict(zip(points["partition"], points["label"]))
    units = dict(zip(points["partition"], points["units"]))
    device = "host" if (points["device"] == "cpu").all() else "GPU"
    searched = set(capacity["scenario"]) if not capacity.empty else set()
    fixed = results[~results["scenario_group"].isin(searched)]
    verdicts: list[Verdict] = []
    for scenario in sorted(fixed["scenario"].unique()):
        throughput, tpot = [], []
        for partition in points["partition"]:
            rows = repetitions[(repetitions["partition"] == partition) & (repetitions["scenario"] == scenario)]
            if rows.empty:
                rows = fixed[(fixed["partition"] == partition) & (fixed["scenario"] == scenario)]
            throughput.append(
                Measured(partition, labels[partition], _values(rows, "output_throughput", units[partition]))
            )
            tpot.append(Measured(partition, labels[partition], _values(rows, "median_tpot_ms", need_stream=True)))
            points.loc[points["partition"] == partition, f"{scenario}: tok/s per {device}"] = _centre(throughput[-1])
            points.loc[points["partition"] == partition, f"{scenario}: TPOT ms"] = _centre(tpot[-1])
        verdicts.append(compare_measured(f"most output tok/s per {device} in {scenario}", throughput, True, "tok/s"))
        verdicts.append(compare_measured(f"lowest median TPOT in {scenario}", tpot, False, "ms"))
    for scenario in sorted(searched):
        rows = capacity[capacity["scenario"] == scenario]
        candidates = []
        for row in rows.itertuples():
            valid = bool(row.valid) if not pd.isna(row.valid) else True
            levels = {int(lv["level"]): (int(lv["good"]), int(lv["sent"])) for lv in json.loads(row.levels)}
            if valid:  # an invalid level's counts are not a measurement: the point is left out
                candidates.append(
                    Capacity(row.partition, labels[row.partition], _int(row.max_concurrency), float(row.goal), levels)
                )
            tried = ", ".join(f"c{level} {good}/{sent}" for level, (good, sent) in sorted(levels.items()))
            points.loc[points["partition"] == row.partition, f"{scenario}: max concurrency under SLO"] = (
                f"{_int(row.max_concurrency) or 'none'} ({tried})" if valid else f"invalid ({tried})"
            )
        verdicts.append(compare_capacity(f"most concurrency under the SLO in {scenario}", candidates))
    curves = latest_results[latest_results["scenario_group"].isin(searched)].merge(
        points[["partition", "label"]], on="partition"
    )
    return SweepSummary(name, points, verdicts, curves, failed)


def _centre(measured: Measured) -> float | None:
    return measured.centre if measured.values else None


def _int(value) -> int | None:
    return None if value is None or pd.isna(value) else int(value)
