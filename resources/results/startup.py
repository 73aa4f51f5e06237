"""Start-up verdicts over a deployment's recorded starts (pure over rows from the runs table).

Every start is judged like a benchmark result, by the one regression rule (``regression.py``): its
time to healthy and each phase against the same deployment's recent starts in the same cache state
on the same hardware model, called slower only beyond both the threshold and the noise, with what
changed since (image, vLLM, weights, config, driver) as the suspects.

A warm start (its compile cache was kept) must give the engine the same KV-cache capacity as the
deployment's earlier warm starts with the same configuration: vLLM can count a first compile's
scratch memory as activation peak and hand the KV cache tens of GiB less until the next restart
(vLLM issue 54122), which shows as fewer tokens in the start-up log, not as an error.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pandas as pd

from resources.config.metrics import STARTUP_METRICS, STARTUP_PHASES
from resources.results.regression import RunJudgement, hardware_model, judge_run

WARM_CACHE = ("hit", "kept")

WARM_CAPACITY_SQL = """
SELECT kv_cache_tokens, run_id, finished_at
FROM runs
WHERE partition = ? AND config_hash = ? AND kv_cache_tokens IS NOT NULL
  AND compile_cache IN ('hit', 'kept') AND NOT coalesce(service_reused, false)
ORDER BY finished_at DESC
LIMIT ?
"""


@dataclass(frozen=True)
class CapacityVerdict:
    passed: bool
    description: str
    baseline_tokens: int | None


def kv_capacity_verdict(tokens: int | None, warm_tokens: list[int]) -> CapacityVerdict:
    """This start's KV-cache tokens against the largest of the deployment's recent warm starts."""
    if tokens is None:
        return CapacityVerdict(True, "the start-up log reported no KV-cache capacity", None)
    if not warm_tokens:
        return CapacityVerdict(
            True, f"{tokens:,} KV-cache tokens; no earlier warm start of this configuration to compare with", None
        )
    baseline = max(warm_tokens)
    if tokens < baseline:
        return CapacityVerdict(
            False,
            f"{tokens:,} KV-cache tokens, {1 - tokens / baseline:.1%} fewer than the {baseline:,} of this "
            "configuration's warm starts: a first compile can take memory the KV cache then lacks until the "
            "next restart (vLLM issue 54122): restart the server (its compile cache is warm now) and run again",
            baseline,
        )
    return CapacityVerdict(
        True, f"{tokens:,} KV-cache tokens, as many as this configuration's warm starts ({baseline:,})", baseline
    )


# A start is compared with the deployment's earlier starts in the same cache state: a cold start
# (it compiled) is never the baseline of a warm one (it loaded the cache), nor the reverse.
def cache_state(compile_cache) -> str:
    if compile_cache in WARM_CACHE:
        return "start-up, warm compile cache"
    if compile_cache in ("miss", "empty", "load_failed"):
        return "start-up, cold compile cache"
    return "start-up"


STARTS_SQL = """
SELECT * FROM runs
WHERE status = 'succeeded' AND startup_s IS NOT NULL AND NOT coalesce(service_reused, false)
  AND (? IS NULL OR partition = ?)
ORDER BY finished_at
"""


def starts_history(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per recorded start, shaped like the benchmark history the regression rule reads:
    the cache state as the scenario, each phase as a ``startup_<phase>_s`` column."""
    if runs.empty:
        return runs
    history = runs.copy()
    history["scenario"] = history["compile_cache"].map(cache_state)
    history["valid"] = True
    phases = [json.loads(text) if isinstance(text, str) and text else {} for text in history["startup_phases"]]
    for phase in STARTUP_PHASES:
        history[f"startup_{phase}_s"] = [p.get(phase) for p in phases]
    history["hardware_model"] = hardware_model(history)  # older rows: GPU model and count, else fingerprint
    return history


def judge_start(store, partition: str, run_id: str, threshold: float, window: int) -> RunJudgement:
    """This run's server start (if it started one) against the partition's earlier starts of the same
    cache state on the same hardware model: the total and every phase it shows, by the one rule."""
    history = starts_history(store.query(STARTS_SQL, [partition, partition]))
    if history.empty or run_id not in set(history["run_id"]):
        return RunJudgement()
    row = history[history["run_id"] == run_id].iloc[0]
    names = [name for name in STARTUP_METRICS if pd.notna(row.get(name))]
    return judge_run(history, {}, partition, run_id, dict.fromkeys(names, threshold), window)
