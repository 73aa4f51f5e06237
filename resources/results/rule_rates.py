"""How often the regression rule cries wolf, and how often it catches a real slowdown, on a
recorded series (``resources/results/recorded.py``).

- false calls: every recorded unchanged run, judged in recording order against the runs before
  it, exactly as the no_regression check judges a new run; any metric called "slower" (or
  "faster") on an unchanged run is a false call;
- detection: each valid recorded run with at least ``min_baseline`` valid runs before it is
  planted with a slowdown and a new vLLM version, then judged against the real runs before it;
  caught = some metric called "slower", named = with the vLLM version among the suspects.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from resources.config.models import RegressionPolicy
from resources.results.recorded import START, next_version, plant_slowdown, record, record_history
from resources.results.regression import FASTER, INVALID, NO_BASELINE, SLOWER, judge_recorded
from resources.results.store import ResultsStore


@dataclass(frozen=True)
class FalseCalls:
    runs: int  # recorded
    judged: int  # with a baseline and valid
    slower: int  # judged runs with some metric called slower
    faster: int
    outcomes: dict[str, list[str]]  # run id -> the verdicts' outcomes, sorted


@dataclass(frozen=True)
class Detection:
    slowdown: float
    trials: int  # planted runs that were valid and had a baseline
    caught: int
    named_vllm: int
    outcomes: list[list[str]]  # per trial, the verdicts' outcomes, sorted

    @property
    def rate(self) -> float:
        return self.caught / self.trials if self.trials else float("nan")


def false_calls(
    series: list[dict], policy: RegressionPolicy, folder: Path, hardware: str, version: str, host_usage: bool = True
) -> FalseCalls:
    store = ResultsStore(folder / "unchanged.duckdb")
    run_ids = record_history(store, series, "unchanged", hardware=hardware, vllm_version=version, host_usage=host_usage)
    outcomes = {}
    for run_id in run_ids:
        verdicts = judge_recorded(store, "unchanged", run_id, policy.thresholds, policy.window).verdicts
        outcomes[run_id] = sorted({v.outcome for v in verdicts})
    judged = [r for r, o in outcomes.items() if o and o != [INVALID] and o != [NO_BASELINE]]
    return FalseCalls(
        runs=len(run_ids),
        judged=len(judged),
        slower=sum(SLOWER in outcomes[r] for r in judged),
        faster=sum(FASTER in outcomes[r] for r in judged),
        outcomes=outcomes,
    )


def detection(
    series: list[dict],
    slowdown: float,
    policy: RegressionPolicy,
    folder: Path,
    min_baseline: int,
    hardware: str,
    version: str,
    host_usage: bool = True,
) -> Detection:
    store = ResultsStore(folder / f"planted-{slowdown:g}.duckdb")
    trials = caught = named = 0
    outcomes = []
    for k in range(len(series)):
        partition = f"trial-{k:02d}"
        earlier = [
            record(
                store,
                raw,
                partition=partition,
                run_id=f"{partition}-{i:02d}",
                finished_at=START + timedelta(days=i),
                hardware=hardware,
                vllm_version=version,
                host_usage=host_usage,
            )
            for i, raw in enumerate(series[:k])
        ]
        if sum(bool(r["valid"]) for r in earlier) < min_baseline:
            continue
        row = record(
            store,
            plant_slowdown(series[k], slowdown),
            partition=partition,
            run_id=f"{partition}-planted",
            finished_at=START + timedelta(days=k),
            hardware=hardware,
            vllm_version=next_version(version),
            host_usage=host_usage,
        )
        if not row["valid"]:
            continue
        trials += 1
        judgement = judge_recorded(store, partition, f"{partition}-planted", policy.thresholds, policy.window)
        slower = judgement.regressions
        caught += bool(slower)
        named += any(f"vLLM version {version} -> {next_version(version)}" in s for v in slower for s in v.suspects)
        outcomes.append(sorted({v.outcome for v in judgement.verdicts}))
    return Detection(slowdown=slowdown, trials=trials, caught=caught, named_vllm=named, outcomes=outcomes)
