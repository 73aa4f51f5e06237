"""What one H100 recorded (tests/fixtures/gpu_h100/README.md): the warm restart of the shape-only
Qwen3-30B-A3B-FP8, and SmolLM2's answers there set beside the CPU build's."""

from __future__ import annotations

import json
from pathlib import Path

from resources.evaluation.verdict import judge_accuracy
from resources.serving.startup_log import read_startup_log

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def recorded_answers(name: str) -> tuple[dict, dict]:
    lines = (FIXTURES / "answers" / name).read_text().splitlines()
    run = json.loads(lines[0])["run"]
    items = {row["item_id"]: (row["correct"], row["reply"]) for row in map(json.loads, lines[1:])}
    return run, items


def test_the_warm_restart_on_the_h100_hit_the_compile_cache_and_kept_its_kv_capacity():
    reading = read_startup_log(
        (FIXTURES / "gpu_h100" / "vllm-0.24.0-h100-qwen3moe-fp8-serve-warm-cache.log").read_text(), 2026
    )
    assert reading.is_ready and reading.compile_cache == "hit"
    assert reading.kv_cache_tokens == 839_248
    assert reading.phase_durations()["torch_compile"] < 10


def test_the_same_smollm2_on_an_h100_and_on_the_cpu_build_drifts_but_does_not_drop():
    """vLLM 0.24 on an H100 and the CPU build 0.32 change some greedy texts; the paired test must
    call that drift, not a drop, although the version and the hardware differ."""
    cpu_run, cpu = recorded_answers("smollm2-cpu-vllm0.32.0.jsonl")
    gpu_run, gpu = recorded_answers("smollm2-h100-vllm0.24.0.jsonl")
    assert cpu_run["eval_set_sha"] == gpu_run["eval_set_sha"] and set(cpu) == set(gpu)
    verdict = judge_accuracy({**gpu_run, "errors": 0}, gpu, [({**cpu_run, "run_id": "cpu"}, cpu)])
    assert verdict.status == "within noise"
    assert 0.15 < verdict.changed_texts / verdict.paired_items < 0.40  # about a quarter of the texts
    assert abs(gpu_run["accuracy"] - cpu_run["accuracy"]) < 0.03
    assert "vLLM version: 0.32.0+cpu -> 0.24.0" in verdict.suspects
