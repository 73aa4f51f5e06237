"""Joules per output token from NVML's energy counter over the benchmark window (pure arithmetic)."""

from __future__ import annotations

import pytest

from resources.hardware.energy import EnergySamples, counter_at, energy_per_token, serving_gpus


def samples(*pairs):
    return [(t, list(mj)) for t, mj in pairs]


def test_the_window_ends_when_the_result_block_is_printed_and_lasts_the_benchmarks_duration():
    # Two GPUs at 300 W and 100 W: 400 J each second; the tool starts up idle before it.
    recorded = EnergySamples(
        [0, 1],
        samples(
            (0.0, [0, 0]), (10.0, [1_000_000, 500_000]), (20.0, [4_000_000, 1_500_000]), (22.0, [4_600_000, 1_700_000])
        ),
        result_printed_at=20.0,
    )
    figures = energy_per_token(recorded, duration_s=10.0, output_tokens=8000)
    assert figures == pytest.approx({"energy_j": 4000.0, "mean_power_w": 400.0, "joules_per_output_token": 0.5})


def test_samples_between_the_window_edges_are_interpolated():
    recorded = samples((0.0, [0]), (1.0, [1000]), (3.0, [5000]))
    assert counter_at(recorded, 2.0) == pytest.approx(3.0)
    with pytest.raises(ValueError, match="outside the sampled span"):
        counter_at(recorded, 4.0)


def test_no_figure_when_the_samples_do_not_cover_the_window():
    recorded = EnergySamples([0], samples((5.0, [0]), (6.0, [1000])), result_printed_at=6.0)
    assert energy_per_token(recorded, duration_s=10.0, output_tokens=100) is None
    assert energy_per_token(EnergySamples([0]), duration_s=1.0, output_tokens=100) is None


def test_the_serving_gpus_follow_cuda_visible_devices():
    assert serving_gpus({"CUDA_VISIBLE_DEVICES": "2,3"}) == [2, 3]
    assert serving_gpus({"CUDA_VISIBLE_DEVICES": "GPU-8f0c"}) is None  # UUIDs: every GPU is measured


def test_a_cpu_deployment_gets_no_energy_meter_and_its_row_says_n_a():
    from resources.config.loader import load_deployments
    from resources.hardware.scenario_energy import scenario_energy
    from resources.runtime import runtime_for

    assert runtime_for(load_deployments()["tiny-cpu-eager"]).energy_meter() is None
    row = scenario_energy(None, {"duration_s": 1.0, "total_output_tokens": 10})
    assert row == {"energy_j": None, "mean_power_w": None, "joules_per_output_token": None}
