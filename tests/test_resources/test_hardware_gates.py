"""Pre-flight gates, judged on reports replayed from real GPU hosts (tests/fixtures/nvml/).

Hosts we have no machine for are the real recordings edited in memory (see the
``with_*`` helpers of test_hardware_report).
"""

from __future__ import annotations

import copy
import dataclasses

from resources.hardware.gates import GateRequirements, GateResult, evaluate_gates
from tests.test_resources.test_hardware_report import (
    load_recording,
    replay,
    with_driver,
    with_foreign_process,
    with_pcie_gen3_x4_and_no_nvlink,
    without_driver,
)

# Qwen/Qwen3-30B-A3B-Instruct-2507-FP8: about 30.5e9 parameters at 1 byte (FP8); 48 layers,
# 4 KV heads of 128 dims, KV cache in fp8: 2 (K and V) * 48 * 4 * 128 * 1 byte per token.
QWEN3_30B_FP8_TP2 = GateRequirements(
    weights_bytes=int(30.5e9),
    kv_bytes_per_token=2 * 48 * 4 * 128 * 1,
    kv_heads=4,
    max_model_len=16384,
    gpu_memory_utilization=0.90,
    tensor_parallel_size=2,
)

# GLM-5 int4 (AutoRound), estimates: 744e9 parameters at 0.5 byte is 372 GB, plus group
# scales and the layers kept in 16 bits: about 400 GB. Its attention is MLA (78 layers, one
# 512 + 64 latent per token, 16-bit), replicated on every TP rank: kv_heads=1.
GLM5_INT4_TP4 = GateRequirements(
    weights_bytes=int(400e9),
    kv_bytes_per_token=78 * (512 + 64) * 2,
    kv_heads=1,
    max_model_len=16384,
    gpu_memory_utilization=0.85,
    tensor_parallel_size=4,
)

SMALL_CPU_MODEL = GateRequirements(
    weights_bytes=5 * 2**20, kv_bytes_per_token=2048, max_model_len=512, requires_gpu=False
)


def gates_by_name(results: list[GateResult]) -> dict[str, GateResult]:
    return {r.name: r for r in results}


def blocking_failures(results: list[GateResult]) -> list[GateResult]:
    return [r for r in results if r.severity == "ERROR" and not r.passed]


# ---- the two deployments of the design notes on the real hosts -------------------------------


def test_qwen3_30b_fp8_on_tp2_passes_every_blocking_gate_on_the_two_gpu_host():
    results = evaluate_gates(replay(load_recording("h200_x2")), QWEN3_30B_FP8_TP2)

    assert blocking_failures(results) == []
    memory = gates_by_name(results)["gpu_memory"]
    assert memory.metadata["kv_capacity_tokens"] > 16384
    assert memory.metadata["kv_capacity_full_sequences"] > 1
    assert "tokens" in memory.description and "sequences of 16384" in memory.description


def test_qwen3_30b_fp8_on_tp2_is_refused_on_the_one_gpu_host_for_lack_of_a_second_gpu():
    results = evaluate_gates(replay(load_recording("h100_x1")), QWEN3_30B_FP8_TP2)

    assert [r.name for r in blocking_failures(results)] == ["gpu_count"]
    assert "needs 2 GPUs, this host has 1" in gates_by_name(results)["gpu_count"].description


def test_qwen3_30b_fp8_fits_on_one_h100_when_run_without_tensor_parallelism():
    one_gpu = dataclasses.replace(QWEN3_30B_FP8_TP2, tensor_parallel_size=1)
    results = evaluate_gates(replay(load_recording("h100_x1")), one_gpu)

    assert blocking_failures(results) == []


def test_glm5_int4_on_tp4_is_refused_on_the_two_gpu_host_naming_the_gpu_count():
    results = evaluate_gates(replay(load_recording("h200_x2")), GLM5_INT4_TP4)

    count = gates_by_name(results)["gpu_count"]
    assert not count.passed and count.severity == "ERROR"
    assert "tensor_parallel_size 4 needs 4 GPUs, this host has 2" in count.description


def test_glm5_int4_would_not_fit_on_h100s_even_four_of_them():
    results = evaluate_gates(replay(load_recording("h100_x1")), GLM5_INT4_TP4)

    memory = gates_by_name(results)["gpu_memory"]
    assert not memory.passed
    assert "weights alone" in memory.description and "raise tensor_parallel_size" in memory.description


def test_host_ram_rule_follows_the_size_of_the_weights():
    report = replay(load_recording("h200_x2"))  # about 252 GiB of RAM

    assert gates_by_name(evaluate_gates(report, QWEN3_30B_FP8_TP2))["host_ram"].passed
    glm_ram = gates_by_name(evaluate_gates(report, GLM5_INT4_TP4))["host_ram"]
    assert not glm_ram.passed and glm_ram.severity == "WARN"
    assert "twice the weights" in glm_ram.description


# ---- derived hosts ---------------------------------------------------------------------------


def test_an_old_driver_blocks_with_the_upgrade_message():
    report = replay(with_driver(load_recording("h200_x2"), "525.60.13", 12000))

    driver = gates_by_name(evaluate_gates(report, QWEN3_30B_FP8_TP2))["driver_version"]

    assert not driver.passed and driver.severity == "ERROR"
    assert "upgrade the driver to >= 535.104: FP8 kernels need it" in driver.description


def test_a_driver_just_at_the_minimum_passes():
    report = replay(with_driver(load_recording("h200_x2"), "535.104.05", 12020))

    assert gates_by_name(evaluate_gates(report, QWEN3_30B_FP8_TP2))["driver_version"].passed


def test_gpus_in_slots_trained_down_to_gen3_x4_warn_but_do_not_block():
    report = replay(with_pcie_gen3_x4_and_no_nvlink(load_recording("h200_x2")))

    results = evaluate_gates(report, QWEN3_30B_FP8_TP2)

    pcie = gates_by_name(results)["pcie_link"]
    assert not pcie.passed and pcie.severity == "WARN"
    assert "Gen3 x4" in pcie.description and "below Gen4 x8" in pcie.description
    assert blocking_failures(results) == []


def test_the_same_gpus_over_nvlink_do_not_warn_about_pcie():
    results = evaluate_gates(replay(load_recording("h200_x2")), QWEN3_30B_FP8_TP2)
    assert gates_by_name(results)["pcie_link"].passed


def test_a_gpu_busy_with_someone_elses_job_blocks_the_deployment():
    report = replay(with_foreign_process(load_recording("h200_x2"), gpu=1, pid=4242, used_mib=60000))

    idle = gates_by_name(evaluate_gates(report, QWEN3_30B_FP8_TP2))["gpu_idle"]

    assert not idle.passed and idle.severity == "ERROR"
    assert "GPU 1 runs other compute processes: pid 4242 (60000 MiB)" in idle.description
    assert "stop those processes" in idle.description


def test_our_own_running_service_does_not_count_as_a_foreign_job():
    report = replay(with_foreign_process(load_recording("h200_x2"), pid=4242, used_mib=100))
    ours = dataclasses.replace(QWEN3_30B_FP8_TP2, ignore_pids=[4242])

    assert gates_by_name(evaluate_gates(report, ours))["gpu_idle"].passed


def test_a_context_too_long_for_the_kv_cache_says_how_far_to_lower_it():
    too_long = dataclasses.replace(
        QWEN3_30B_FP8_TP2, tensor_parallel_size=1, gpu_memory_utilization=0.80, max_model_len=1_000_000
    )

    memory = gates_by_name(evaluate_gates(replay(load_recording("h100_x1")), too_long))["gpu_memory"]

    capacity = memory.metadata["kv_capacity_tokens"]
    assert not memory.passed and 0 < capacity < 1_000_000
    assert f"lower max_model_len to {capacity}" in memory.description
    assert "or raise gpu_memory_utilization to 0.9" in memory.description


def test_too_little_disk_for_weights_not_yet_downloaded_blocks():
    report = replay(load_recording("h200_x2"))  # 128 GiB free

    disk = gates_by_name(evaluate_gates(report, GLM5_INT4_TP4))["disk_space"]

    assert not disk.passed and disk.severity == "ERROR"
    assert "free space or point the weights folder at a larger disk" in disk.description


def test_weights_already_on_disk_need_no_free_space():
    present = dataclasses.replace(GLM5_INT4_TP4, weights_already_present=True)
    report = replay(load_recording("h200_x2"))

    assert gates_by_name(evaluate_gates(report, present))["disk_space"].passed


def test_docker_default_shm_of_64_mib_warns():
    recording = copy.deepcopy(load_recording("h100_x1"))
    recording["host_facts"]["shm_total_bytes"] = 64 * 2**20

    shm = gates_by_name(evaluate_gates(replay(recording), QWEN3_30B_FP8_TP2))["shm"]

    assert not shm.passed and shm.severity == "WARN" and "--shm-size" in shm.description


def test_a_host_without_swap_warns():
    swap = gates_by_name(evaluate_gates(replay(load_recording("h100_x1")), QWEN3_30B_FP8_TP2))["swap"]
    assert not swap.passed and swap.severity == "WARN"


# ---- hosts without an NVIDIA driver ----------------------------------------------------------


def test_a_cpu_deployment_passes_on_a_host_without_nvidia_driver():
    report = replay(without_driver(load_recording("h100_x1")))

    results = evaluate_gates(report, SMALL_CPU_MODEL)

    assert blocking_failures(results) == []
    for name in ("nvidia_driver", "driver_version", "gpu_count", "gpu_memory", "gpu_idle"):
        assert gates_by_name(results)[name].description.startswith("not applicable: CPU deployment")


def test_a_gpu_deployment_on_a_host_without_nvidia_driver_is_refused_with_the_reason():
    report = replay(without_driver(load_recording("h100_x1")))

    results = evaluate_gates(report, QWEN3_30B_FP8_TP2)

    driver = gates_by_name(results)["nvidia_driver"]
    assert not driver.passed
    assert "libnvidia-ml.so.1" in driver.description
    assert "Install the NVIDIA driver" in driver.description
