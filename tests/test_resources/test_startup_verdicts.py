"""A server start is judged like a benchmark result, by the one regression rule: against the same
deployment's earlier starts in the same compile-cache state on the same hardware model.

The starts' phases are the ones vLLM's logs showed on the H200 (tests/fixtures/vllm/
startup_gpu_h200_{cold,warm}_cache.log, read by the project's own parser); the nights around
them are those starts recorded again, with the same phases, as an unchanged deployment would.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from resources.results.regression import NO_BASELINE, NOT_MEASURED, SLOWER, WITHIN_NOISE
from resources.results.startup import judge_start
from resources.results.store import ResultsStore
from resources.serving.startup_log import read_startup_log

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "vllm"
START = datetime(2026, 11, 1, 2, 0)


def _reading(name: str):
    return read_startup_log((FIXTURES / f"startup_gpu_h200_{name}.log").read_text())


def _start(
    store: ResultsStore,
    night: int,
    reading,
    cache: str,
    vllm: str = "0.24.0",
    scale: float = 1.0,
    phase_scale: dict | None = None,
) -> str:
    phases = {name: seconds * (phase_scale or {}).get(name, 1.0) for name, seconds in reading.phase_durations().items()}
    run_id = f"night-{night:02d}"
    store.record_run(
        {
            "run_id": run_id,
            "partition": "qwen-h200",
            "status": "succeeded",
            "started_at": START + timedelta(days=night),
            "finished_at": START + timedelta(days=night, minutes=5),
            "startup_s": sum(phases.values()) * scale,
            "startup_phases": json.dumps(phases),
            "compile_cache": cache,
            "service_reused": False,
            "hardware_model": "1 x NVIDIA H200",
            "vllm_version": vllm,
            "image_digest": f"local:vllm=={vllm}",
            "kv_cache_tokens": reading.kv_cache_tokens,
        },
        [],
    )
    return run_id


@pytest.fixture
def store(tmp_path) -> ResultsStore:
    return ResultsStore(tmp_path / "results.duckdb")


def test_an_unchanged_warm_start_is_within_noise(store):
    warm = _reading("warm_cache")
    for night in range(6):
        _start(store, night, warm, "hit", phase_scale={"torch_compile": 1 + 0.05 * (night % 3)})
    judgement = judge_start(store, "qwen-h200", _start(store, 6, warm, "hit"), threshold=0.2, window=5)
    assert judgement.verdicts and not judgement.regressions
    # vLLM logs whole seconds: a phase that took "0 s" has no relative change to judge.
    assert {v.outcome for v in judgement.verdicts} <= {WITHIN_NOISE, "inconclusive: too noisy", NOT_MEASURED}
    assert any(v.outcome == WITHIN_NOISE and v.metric == "startup_s" for v in judgement.verdicts)


def test_a_warm_start_that_compiles_again_after_an_upgrade_is_slower_and_names_the_upgrade(store):
    warm, cold = _reading("warm_cache"), _reading("cold_cache")
    for night in range(6):
        _start(store, night, warm, "hit", phase_scale={"torch_compile": 1 + 0.05 * (night % 3)})
    # The new image's compile artifacts are not the old ones: the same phase now takes a cold compile.
    slow = _start(
        store,
        6,
        warm,
        "hit",
        vllm="0.25.0",
        phase_scale={
            "torch_compile": cold.phase_durations()["torch_compile"] / warm.phase_durations()["torch_compile"]
        },
    )
    judgement = judge_start(store, "qwen-h200", slow, threshold=0.2, window=5)
    [compile_phase] = [v for v in judgement.regressions if v.metric == "startup_torch_compile_s"]
    assert compile_phase.outcome == SLOWER and compile_phase.change > 5
    assert any("vLLM version 0.24.0 -> 0.25.0" in s for s in compile_phase.suspects)


def test_a_cold_start_is_never_judged_against_warm_ones(store):
    for night in range(6):
        _start(store, night, _reading("warm_cache"), "hit")
    judgement = judge_start(store, "qwen-h200", _start(store, 6, _reading("cold_cache"), "miss"), 0.2, 5)
    assert {v.outcome for v in judgement.verdicts} == {NO_BASELINE}
    assert all(v.scenario == "start-up, cold compile cache" for v in judgement.verdicts)
