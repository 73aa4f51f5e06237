"""Did the latest run get worse than its own history? (pure over a DataFrame)

The baseline is the median of the partition's previous N runs on the same hardware fingerprint,
the same image reference and the same scenario, so a result is only ever compared with results
that could have been the same. A regression names the metric, the change, and what else differs
between the latest run and its baseline runs (image digest, weights, vLLM version, driver).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

# Higher is worse for latencies, lower is worse for throughput.
HIGHER_IS_WORSE = {"median_tpot_ms": True, "p99_ttft_ms": True, "mean_ttft_ms": True, "median_ttft_ms": True,
                   "mean_tpot_ms": True, "p99_tpot_ms": True, "median_itl_ms": True, "p99_itl_ms": True,
                   "median_e2el_ms": True, "p99_e2el_ms": True, "output_throughput": False,
                   "request_throughput": False, "total_token_throughput": False}
PROVENANCE = ("image_digest", "weights_revision", "vllm_version", "driver_version", "config_hash", "git_sha")

HISTORY_SQL = """
SELECT r.run_id, r.finished_at, r.hardware_fingerprint, r.image_ref, r.image_digest, r.weights_revision,
       r.vllm_version, r.driver_version, r.config_hash, r.git_sha, b.*
FROM runs r JOIN benchmark_results b USING (run_id, partition)
WHERE r.partition = ? AND r.status = 'succeeded'
ORDER BY r.finished_at
"""


@dataclass(frozen=True)
class Regression:
    scenario: str
    metric: str
    latest: float
    baseline: float
    change: float  # signed fraction, e.g. +0.30 for 30 % higher
    baseline_runs: int
    what_changed: tuple[str, ...]

    def describe(self) -> str:
        changed = "; ".join(self.what_changed) or "nothing recorded changed (same image, weights, vLLM, driver)"
        return (f"{self.scenario}: {self.metric} {self.latest:.2f} vs median {self.baseline:.2f} of the last "
                f"{self.baseline_runs} runs ({self.change:+.0%}). Also changed: {changed}")


def find_regressions(history: pd.DataFrame, latest_run_id: str, thresholds: dict[str, float],
                     window: int) -> list[Regression]:
    if history.empty or latest_run_id not in set(history["run_id"]):
        return []
    latest = history[history["run_id"] == latest_run_id]
    found = []
    for _, row in latest.iterrows():
        earlier = history[
            (history["run_id"] != latest_run_id)
            & (history["finished_at"] < row["finished_at"])
            & (history["scenario"] == row["scenario"])
            & (history["hardware_fingerprint"] == row["hardware_fingerprint"])
            & (history["image_ref"] == row["image_ref"])
        ].sort_values("finished_at").tail(window)
        if earlier.empty:
            continue
        for metric, threshold in thresholds.items():
            baseline = earlier[metric].median()
            value = row[metric]
            if pd.isna(baseline) or pd.isna(value) or baseline == 0:
                continue
            change = (value - baseline) / baseline
            worse = change > threshold if HIGHER_IS_WORSE.get(metric, True) else change < -threshold
            if worse:
                found.append(Regression(row["scenario"], metric, float(value), float(baseline), float(change),
                                        len(earlier), _what_changed(row, earlier)))
    return found


def _what_changed(row: pd.Series, earlier: pd.DataFrame) -> tuple[str, ...]:
    changes = []
    for column in PROVENANCE:
        before = sorted({str(v) for v in earlier[column].dropna()})
        now = row[column]
        if before and not pd.isna(now) and before != [str(now)]:
            changes.append(f"{column} {', '.join(before)} -> {now}")
    return tuple(changes)
