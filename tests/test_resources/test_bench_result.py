"""vllm bench serve's saved result, parsed into the row DuckDB stores; and the command that makes it."""

import json
import math
from pathlib import Path

import pytest

from resources.bench_command import render_bench_args, scenario_seed
from resources.bench_result import BenchResultError, parse_bench_result
from resources.config_models import BenchmarkScenario

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "vllm"


def test_a_real_result_file_passes_every_number_through_unchanged():
    raw = json.loads((FIXTURES / "bench_serve_result_cpu.json").read_text())
    row = parse_bench_result(raw)
    assert row["completed"] == raw["completed"] == 32 and row["failed"] == 0
    assert row["duration_s"] == raw["duration"]
    for key in ("output_throughput", "request_throughput", "total_token_throughput"):
        assert row[key] == raw[key]
    for metric in ("ttft", "tpot", "itl"):
        for stat in ("mean", "median", "p99"):
            assert row[f"{stat}_{metric}_ms"] == raw[f"{stat}_{metric}_ms"]
    assert math.isinf(row["request_rate"])


def test_the_printed_summary_and_the_saved_file_agree():
    raw = json.loads((FIXTURES / "bench_serve_result_cpu.json").read_text())
    printed = (FIXTURES / "bench_serve_stdout_cpu.log").read_text()
    assert f"Mean TTFT (ms):                          {raw['mean_ttft_ms']:.2f}" in printed
    assert f"Output token throughput (tok/s):         {raw['output_throughput']:.2f}" in printed


def test_a_file_that_is_not_a_bench_result_is_refused_by_name():
    with pytest.raises(BenchResultError) as error:
        parse_bench_result({"hello": 1}, "results/foo.json")
    assert "results/foo.json" in str(error.value) and "completed" in str(error.value)


def test_each_run_draws_fresh_prompts_unless_the_config_pins_a_seed():
    scenario = BenchmarkScenario(name="s", input_len=8, output_len=8, num_prompts=2)
    assert scenario_seed(scenario, "run-a") != scenario_seed(scenario, "run-b")
    assert scenario_seed(scenario, "run-a") == scenario_seed(scenario, "run-a")
    pinned = BenchmarkScenario(name="s", input_len=8, output_len=8, num_prompts=2, seed=7)
    assert scenario_seed(pinned, "run-a") == scenario_seed(pinned, "run-b") == 7


def test_the_recipe_scenario_renders_vllm_bench_flags():
    recipe = BenchmarkScenario(name="recipe", input_len=8000, output_len=1024, num_prompts=32, request_rate=10)
    args = " ".join(render_bench_args(recipe, "http://127.0.0.1:8000", "qwen-30b", "/m", "/out", "r.json", 5))
    for flag in ("--dataset-name random", "--random-input-len 8000", "--random-output-len 1024",
                 "--request-rate 10", "--num-prompts 32", "--ignore-eos", "--save-result", "--seed 5"):
        assert flag in args
