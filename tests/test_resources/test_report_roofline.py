"""The memory-bandwidth bound on decode (resources/hardware/roofline.py), by hand-checkable numbers."""

from __future__ import annotations

import pytest

from resources.hardware.roofline import decode_bound_tok_s, gpu_bandwidth, result_bound


@pytest.mark.parametrize(
    "nvml_name, expected",
    [
        ("NVIDIA H100 80GB HBM3", ("H100 SXM", 3.35)),
        ("NVIDIA H100 PCIe", ("H100 PCIe", 2.0)),
        ("NVIDIA H100 NVL", ("H100 NVL", 3.9)),
        ("NVIDIA H200", ("H200", 4.8)),
        ("NVIDIA A100-SXM4-80GB", ("A100 80GB SXM", 2.039)),
        ("NVIDIA A100 80GB PCIe", ("A100 80GB PCIe", 1.935)),
        ("NVIDIA A100-SXM4-40GB", ("A100 40GB", 1.555)),
        ("NVIDIA GeForce RTX 4090", ("RTX 4090", 1.008)),
        ("NVIDIA L40S", ("L40S", 0.864)),
        ("NVIDIA L4", ("L4", 0.3)),
        ("NVIDIA A10", ("A10", 0.6)),
    ],
)
def test_nvml_gpu_names_find_their_datasheet_bandwidth(nvml_name, expected):
    assert gpu_bandwidth(nvml_name) == expected


def test_the_design_notes_example_qwen3_30b_a3b_fp8_on_one_h100_is_about_1000_tokens_per_second():
    assert decode_bound_tok_s(3.35, 3.3, 1.0) == pytest.approx(1015.15, abs=0.01)


def test_tensor_parallelism_multiplies_the_bound_by_the_gpu_count():
    one = result_bound(
        device="gpu",
        gpu_model="NVIDIA H100 80GB HBM3",
        tensor_parallel_size=1,
        active_params_b=3.3,
        bytes_per_param=1,
        mean_tpot_ms=2.0,
    )
    two = result_bound(
        device="gpu",
        gpu_model="NVIDIA H100 80GB HBM3",
        tensor_parallel_size=2,
        active_params_b=3.3,
        bytes_per_param=1,
        mean_tpot_ms=2.0,
    )
    assert two.bound_tok_s == pytest.approx(2 * one.bound_tok_s)
    assert one.label() == "49%" and two.label() == "25%"


def test_kv_cache_bytes_lower_the_bound_when_known():
    assert decode_bound_tok_s(3.35, 3.3, 1.0, kv_bytes_per_token=0.3e9) == pytest.approx(3.35e12 / 3.6e9)


@pytest.mark.parametrize(
    "kwargs, label",
    [
        (dict(device="cpu", gpu_model=None), "n/a (no GPU)"),
        (
            dict(device="gpu", gpu_model="NVIDIA Imaginary 9000"),
            "n/a (NVIDIA Imaginary 9000 not in the bandwidth table)",
        ),
        (dict(device="gpu", gpu_model="NVIDIA H200", active_params_b=None), "n/a (model size not recorded)"),
    ],
)
def test_without_a_bandwidth_or_model_size_the_bound_says_why(kwargs, label):
    arguments = dict(tensor_parallel_size=1, active_params_b=3.3, bytes_per_param=1.0, mean_tpot_ms=2.0) | kwargs
    bound = result_bound(**arguments)
    assert bound.fraction is None and bound.label() == label
