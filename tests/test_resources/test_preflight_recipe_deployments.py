"""The recipe's deployments, as configured under configs/, judged on real recorded GPU hosts."""

from pathlib import Path

from resources.config.loader import load_deployments
from resources.hardware.gates import evaluate_gates
from resources.hardware.requirements import gate_requirements
from tests.test_resources.test_hardware_report import load_recording, replay, without_driver

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def _failures(partition: str, host: str) -> dict[str, str]:
    deployment = load_deployments(CONFIGS)[partition]
    report = replay(load_recording(host))
    return {
        g.name: g.description
        for g in evaluate_gates(report, gate_requirements(deployment, False))
        if g.severity == "ERROR" and not g.passed
    }


def test_qwen_on_two_gpus_clears_every_blocking_gate_on_the_recorded_two_gpu_host():
    assert _failures("qwen3-30b-a3b-fp8-2x24gb", "h200_x2") == {}


def test_qwen_on_the_one_gpu_host_stops_because_it_needs_two_gpus():
    failures = _failures("qwen3-30b-a3b-fp8-2x24gb", "h100_x1")
    assert set(failures) == {"gpu_count"} and "tensor_parallel_size 2" in failures["gpu_count"]


def test_glm5_on_the_two_gpu_host_stops_for_its_four_gpus_and_says_so():
    failures = _failures("glm5-int4-4gpu", "h200_x2")
    assert "gpu_count" in failures and "tensor_parallel_size 4" in failures["gpu_count"]


def test_the_cpu_demo_passes_on_a_host_without_a_driver():
    deployment = load_deployments(CONFIGS)["tiny-cpu-eager"]
    report = replay(without_driver(load_recording("h100_x1")))
    results = evaluate_gates(report, gate_requirements(deployment, True))
    assert [g.name for g in results if g.severity == "ERROR" and not g.passed] == []


def _as_two_rtx_4090s(recording: dict) -> dict:
    """Derived from the real two-GPU recording, edited in memory: the recipe's host, two 24 GB
    RTX 4090s (24564 MiB each) that talk over PCIe, everything else as the real driver said."""
    from tests.test_resources.test_hardware_report import with_pcie_gen3_x4_and_no_nvlink

    edited = with_pcie_gen3_x4_and_no_nvlink(recording)
    for entry in edited["nvml_calls"]:
        if entry["call"] == "name":
            entry["result"] = "NVIDIA GeForce RTX 4090"
        if entry["call"] == "memory_info":
            total = 24564 * 2**20
            entry["result"].update(total=total, free=total - entry["result"]["used"])
        if entry["call"] == "pcie_link":
            entry["result"] = {"gen_current": 4, "gen_max": 4, "width_current": 16, "width_max": 16}[entry["args"][1]]
    return edited


def test_qwen_fits_the_recipes_two_24gb_gpus_and_the_gate_says_how_many_full_sequences():
    deployment = load_deployments(CONFIGS)["qwen3-30b-a3b-fp8-2x24gb"]
    report = replay(_as_two_rtx_4090s(load_recording("h200_x2")))
    gates = {g.name: g for g in evaluate_gates(report, gate_requirements(deployment, False))}
    assert gates["gpu_memory"].passed and gates["gpu_count"].passed
    assert "sequences of 16384" in gates["gpu_memory"].description
    assert gates["pcie_link"].passed, "Gen4 x16 is enough for tensor parallelism over PCIe"
