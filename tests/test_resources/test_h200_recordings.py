"""The project's GPU code paths against what one H200 really printed and measured.

Everything read here was recorded on one NVIDIA H200 with vLLM 0.24.0 serving the shape-only
Qwen3-30B-A3B-FP8 model through this project's own chain (tests/fixtures/gpu_h200/README.md,
tests/fixtures/vllm/README.md). CI has no GPU: these recordings are how the GPU paths stay tested.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from resources.config.loader import load_deployments
from resources.hardware.energy import EnergySamples, energy_per_token
from resources.hardware.gates import evaluate_gates
from resources.hardware.host_facts import HostFacts
from resources.hardware.nvml_source import ReplayNvml
from resources.hardware.report import collect_hardware_report
from resources.hardware.requirements import gate_requirements
from resources.hardware.roofline import result_bound
from resources.results.bench_json import parse_bench_result
from resources.serving.server_metrics import histogram_totals
from resources.serving.startup_diagnosis import diagnose

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
H200 = FIXTURES / "gpu_h200"
LOGS = FIXTURES / "vllm"
LADDER = [1, 2, 4, 8, 16]


def _log(name: str) -> str:
    return (LOGS / f"startup_gpu_h200_{name}.log").read_text()


def _bench(name: str) -> dict:
    return json.loads((H200 / f"{name}.json").read_text())


def _energy(name: str) -> dict | None:
    parsed = parse_bench_result(_bench(name))
    samples = EnergySamples.from_dict(json.loads((H200 / f"{name}.energy.json").read_text()))
    return energy_per_token(samples, parsed["duration_s"], parsed["total_output_tokens"])


# ---- start-up ------------------------------------------------------------------------------


def test_a_cold_start_spends_a_minute_in_torch_compile_and_a_warm_cache_cuts_it_to_seconds():
    cold, warm = diagnose(_log("cold_cache")), diagnose(_log("warm_cache"))
    assert cold.is_ready and warm.is_ready and cold.cause is None and warm.cause is None
    expected = [
        "api_server",
        "engine_init",
        "distributed_init",
        "weights_loading",
        "weights_loaded",
        "torch_compile",
        "kv_cache",
        "graph_capture",
        "engine_ready",
        "ready",
    ]
    assert cold.reached == expected and warm.reached == expected
    assert cold.phase_durations()["torch_compile"] == 42.0
    assert warm.phase_durations()["torch_compile"] == 5.0
    assert 20.0 <= cold.phase_durations()["graph_capture"] <= 30.0, "capture is paid on every start"
    assert sum(warm.phase_durations().values()) < sum(cold.phase_durations().values()) - 60


@pytest.mark.parametrize(
    "log, cause, fix",
    [
        ("unknown_argument", "vLLM does not know an argument it was given: --no-such-flag 1", "vllm serve --help"),
        ("no_flashinfer", "imports FlashInfer, which is not installed", "VLLM_USE_FLASHINFER_SAMPLER=0"),
        ("weights_do_not_fit", "nothing is left for the KV cache", "raise gpu_memory_utilization"),
        ("kv_cache_too_small", "the KV cache does not fit one sequence of max_model_len", "lower max_model_len"),
    ],
)
def test_a_real_failed_gpu_start_is_diagnosed_from_its_root_cause_line(log, cause, fix):
    diagnosis = diagnose(_log(log))
    assert not diagnosis.is_ready
    assert cause in diagnosis.cause and fix in diagnosis.hint
    assert "ERROR" in diagnosis.root_cause_line or "error:" in diagnosis.root_cause_line


def test_a_start_stopped_by_its_timeout_during_torch_compile_says_to_wait_longer_or_run_eager():
    diagnosis = diagnose(_log("compile_timed_out"), timed_out=True)
    assert diagnosis.reached[-1] == "torch_compile"
    assert "still running" in diagnosis.cause and "startup_timeout_s" in diagnosis.hint


# ---- benchmark, roofline, energy --------------------------------------------------------------


def test_the_recipe_benchmark_completed_every_request_with_streamed_tokens():
    recipe = parse_bench_result(_bench("recipe-8k-in-1k-out"))
    assert (recipe["completed"], recipe["failed"]) == (32, 0)
    assert recipe["total_output_tokens"] == 32 * 1024
    assert recipe["mean_tpot_ms"] > 1 and recipe["mean_itl_ms"] > 1, "a real stream, not one chunk"


def test_decode_at_concurrency_1_is_a_measured_fraction_of_the_h200_memory_bound():
    c1 = parse_bench_result(_bench("ladder_c1"))
    bound = result_bound(
        device="gpu",
        gpu_model="NVIDIA H200",
        tensor_parallel_size=1,
        active_params_b=3.3,
        bytes_per_param=1,
        mean_tpot_ms=c1["mean_tpot_ms"],
    )
    assert bound.gpu == "H200" and round(bound.bound_tok_s) == 1455
    assert 0.05 < bound.fraction < 0.5, "far below the bound, as MoE routing and kernel launches cost"


def test_throughput_grows_with_concurrency_while_each_sequence_slows_a_little():
    points = [parse_bench_result(_bench(f"ladder_c{c}")) for c in LADDER]
    throughput = [p["output_throughput"] for p in points]
    tpot = [p["mean_tpot_ms"] for p in points]
    assert throughput == sorted(throughput) and throughput[-1] > 8 * throughput[0]
    assert tpot[-1] > tpot[0]


def test_energy_per_token_falls_as_batching_shares_the_gpus_power():
    figures = [_energy(f"ladder_c{c}") for c in LADDER]
    assert all(f is not None for f in figures)
    per_token = [f["joules_per_output_token"] for f in figures]
    assert per_token == sorted(per_token, reverse=True)
    # Between the idle draw (about 100 W) and the board's 700 W limit.
    assert all(100 < f["mean_power_w"] < 700 for f in figures)


def test_the_recipe_benchmarks_energy_counts_only_its_own_window():
    recipe = _energy("recipe-8k-in-1k-out")
    parsed = parse_bench_result(_bench("recipe-8k-in-1k-out"))
    assert recipe["energy_j"] == pytest.approx(recipe["mean_power_w"] * parsed["duration_s"])
    samples = json.loads((H200 / "recipe-8k-in-1k-out.energy.json").read_text())["samples"]
    whole_span_j = (samples[-1][1][0] - samples[0][1][0]) / 1000
    assert recipe["energy_j"] < whole_span_j, "the bench tool's own start-up is left out"
    assert 0.1 < recipe["joules_per_output_token"] < 1.0


def test_the_servers_metrics_count_every_benchmark_request():
    text = (H200 / "metrics_after_chain_run1.txt").read_text()
    ttft = histogram_totals(text, "vllm:time_to_first_token_seconds")
    benchmark_requests = 32 + len(LADDER) * (16 + 2)  # the ladder sends 2 warm-ups per level
    assert ttft is not None and ttft.count >= benchmark_requests


# ---- the busy-GPU gate with vLLM's own process on the GPU ----------------------------------------


@pytest.fixture(scope="module")
def serving_report():
    recording = json.loads((FIXTURES / "nvml" / "h200_x1_serving" / "nvml_recording.json").read_text())
    return collect_hardware_report(nvml=ReplayNvml(recording), host=HostFacts.from_dict(recording["host_facts"]))


def test_the_gpu_held_by_our_own_server_passes_the_busy_gpu_gate(serving_report):
    (vllm_pid,) = [p.pid for p in serving_report.gpus[0].compute_processes]
    deployment = load_deployments()["qwen3-30b-a3b-fp8-shape-h200"]
    ours = dataclasses.replace(gate_requirements(deployment, weights_present=True), ignore_pids=[vllm_pid])
    gates = {g.name: g for g in evaluate_gates(serving_report, ours)}
    assert gates["gpu_idle"].passed, gates["gpu_idle"].description


def test_the_same_gpu_held_by_someone_elses_process_blocks_the_deployment(serving_report):
    (vllm_pid,) = [p.pid for p in serving_report.gpus[0].compute_processes]
    deployment = load_deployments()["qwen3-30b-a3b-fp8-shape-h200"]
    gates = {g.name: g for g in evaluate_gates(serving_report, gate_requirements(deployment, weights_present=True))}
    idle = gates["gpu_idle"]
    assert not idle.passed
    assert f"pid {vllm_pid}" in idle.description and "more than the" in idle.description
