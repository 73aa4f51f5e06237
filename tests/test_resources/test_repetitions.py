"""A load point run several times in one run (``repeat: N``) gives one result: the median of its
valid repetitions with an interval across them, latencies over their pooled requests; and a
price per hour gives the cost of a million output tokens, or nothing without a price."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from resources.benchmark.command import repetition_seed, scenario_seed
from resources.config.models import BenchmarkScenario, Cost
from resources.results.cost import price_per_hour, usd_per_million_output_tokens
from resources.results.repetitions import combine_repetitions, pooled_statistic, throughput_interval


def _row(throughput: float, valid: bool = True, completed: int = 32, reason: str | None = None) -> dict:
    return {
        "run_id": "r",
        "partition": "p",
        "scenario": "short",
        "seed": 1,
        "completed": completed,
        "failed": 0,
        "output_throughput": throughput,
        "request_throughput": throughput / 64,
        "total_token_throughput": throughput * 3,
        "median_ttft_ms": 999.0,
        "p99_ttft_ms": 999.0,
        "mean_ttft_ms": 999.0,
        "mean_itl_ms": throughput / 100,
        "energy_j": None,
        "prefix_caching": "off",
        "valid": valid,
        "invalid_reasons": reason,
        "stream_measured": True,
    }


def _requests(ttfts) -> list[dict]:
    return [
        {
            "request_index": i,
            "ttft_ms": t,
            "latency_ms": t * 10,
            "tpot_ms": t / 10,
            "itl_mean_ms": t / 10,
            "error": None,
        }
        for i, t in enumerate(ttfts)
    ]


def test_two_repetitions_give_their_min_max_and_three_a_t_interval_of_the_mean():
    assert throughput_interval([100.0]) is None
    assert throughput_interval([100.0, 120.0]) == (100.0, 120.0, "min-max")
    low, high, method = throughput_interval([100.0, 110.0, 120.0])
    # mean 110, s = 10, t(0.975, 2 dof) = 4.30: half-width 4.30 * 10 / sqrt(3) = 24.8
    assert method == "t" and low == pytest.approx(110 - (high - 110))
    assert 24.0 < high - 110 < 25.5


def test_a_single_repetition_is_stored_exactly_as_a_run_without_repeat():
    row = _row(500.0)
    assert combine_repetitions([row], [_requests([1.0] * 8)]) == row


def test_the_median_of_the_valid_repetitions_with_failures_summed_over_all():
    rows = [_row(500.0), _row(100.0, valid=False, reason="the stream was coalesced"), _row(520.0), _row(480.0)]
    requests = [_requests([10.0] * 8), _requests([900.0] * 8), _requests([12.0] * 8), _requests([14.0] * 8)]
    combined = combine_repetitions(rows, requests)
    assert combined["output_throughput"] == 500.0  # median of 480, 500, 520: the invalid 100 is left out
    assert combined["completed"] == 128  # every repetition's requests, invalid ones included
    assert combined["valid"] is True and combined["valid_repetitions"] == 3 and combined["repetitions"] == 4
    assert combined["invalid_reasons"] == "repetition 2: the stream was coalesced"
    assert combined["output_throughput_low"] < 500.0 < combined["output_throughput_high"]
    assert combined["throughput_interval"] == "t"
    # Latencies over the valid repetitions' requests pooled, not the median of their summaries.
    assert combined["median_ttft_ms"] == 12.0 and combined["p99_ttft_ms"] == pytest.approx(
        np.percentile([10.0] * 8 + [12.0] * 8 + [14.0] * 8, 99)
    )
    assert combined["mean_itl_ms"] == 5.0  # ITL: the median of the repetitions' own figures
    assert combined["energy_j"] is None and combined["prefix_caching"] == "off"


def test_a_result_with_most_repetitions_invalid_is_invalid_and_says_why():
    rows = [
        _row(500.0, valid=False, reason="too short"),
        _row(510.0),
        _row(90.0, valid=False, reason="other work on the host"),
    ]
    combined = combine_repetitions(rows, [_requests([1.0] * 8)] * 3)
    assert combined["valid"] is False
    assert combined["invalid_reasons"] == (
        "only 1 of 3 repetitions valid; repetition 1: too short; repetition 3: other work on the host"
    )


def test_pooled_statistics_are_computed_as_vllm_computes_them():
    values = [1.0, 2.0, 3.0, 4.0, float("nan")]
    assert pooled_statistic(values, "mean") == 2.5
    assert pooled_statistic(values, "median") == 2.5
    assert pooled_statistic(values, "p99") == pytest.approx(np.percentile([1, 2, 3, 4], 99))
    assert pooled_statistic([], "mean") is None


def test_each_repetition_draws_its_own_prompts_and_the_first_draws_what_a_plain_run_draws():
    assert repetition_seed("short", "run-1", "per_run", 1) == scenario_seed("short", "run-1")
    seeds = {repetition_seed("short", "run-1", "per_run", k) for k in (1, 2, 3)}
    assert len(seeds) == 3
    assert repetition_seed("short", "run-1", "per_run", 2) == repetition_seed("short", "run-1", "per_run", 2)
    assert [repetition_seed("short", "run-1", 7, k) for k in (1, 2, 3)] == [7, 8, 9]


def test_repeat_defaults_to_once_and_must_be_positive():
    scenario = dict(name="short", input_len=8, output_len=8, num_prompts=8)
    assert BenchmarkScenario(**scenario).repeat == 1
    with pytest.raises(ValidationError, match="repeat"):
        BenchmarkScenario(**scenario, repeat=0)


def test_cost_per_million_output_tokens_from_the_price_per_hour():
    assert price_per_hour(Cost(per_hour_usd=2.5, unit="gpu"), gpu_count=4) == 10.0
    assert price_per_hour(Cost(per_hour_usd=0.4, unit="host"), gpu_count=0) == 0.4
    assert price_per_hour(None, gpu_count=4) is None
    assert price_per_hour(Cost(per_hour_usd=2.5), gpu_count=0) is None  # no GPU counted: no figure
    # 10 USD/h at 1,000 output tok/s: 3.6 M tokens an hour, 2.78 USD per million
    assert usd_per_million_output_tokens(10.0, 1000.0) == pytest.approx(10 / 3.6)
    assert usd_per_million_output_tokens(None, 1000.0) is None
    assert usd_per_million_output_tokens(10.0, 0.0) is None
    assert usd_per_million_output_tokens(float("nan"), 1000.0) is None


def _configs(tmp_path, deployment: dict):
    from tests.test_resources.config_tree import write_config_tree

    return write_config_tree(
        tmp_path,
        {
            "model": "tiny",
            "params": "cpu",
            "served_model_name": "x",
            "runtime": {"device": "cpu"},
            "benchmarks": [{"name": "s", "input_len": 1, "output_len": 1, "num_prompts": 1, "repeat": 3}],
            **deployment,
        },
        params={"kv_cache_memory_bytes": "512M"},
    )


def test_a_per_gpu_price_on_a_cpu_deployment_is_refused_with_the_fix(tmp_path):
    from resources.config.loader import ConfigError, load_deployments

    with pytest.raises(ConfigError) as error:
        load_deployments(_configs(tmp_path, {"cost": {"per_hour_usd": 2.5, "unit": "gpu"}}))
    assert "d.yaml" in str(error.value) and "unit: host" in str(error.value)


def test_a_host_price_and_a_repeat_are_read_from_the_deployment_file(tmp_path):
    from resources.config.loader import load_deployments

    [deployment] = load_deployments(_configs(tmp_path, {"cost": {"per_hour_usd": 0.4, "unit": "host"}})).values()
    assert deployment.spec.cost == Cost(per_hour_usd=0.4, unit="host")
    assert deployment.spec.benchmarks[0].repeat == 3
