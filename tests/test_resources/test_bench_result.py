"""vllm bench serve's saved result, parsed into the row DuckDB stores; and the command that makes it."""

import json
import math
from pathlib import Path

import pytest

from resources.benchmark.command import expand_scenario, render_bench_args, scenario_seed
from resources.config.models import BenchmarkScenario
from resources.results.bench_json import BenchResultError, parse_bench_result, parse_request_rows

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
    assert scenario_seed("s", "run-a") != scenario_seed("s", "run-b")
    assert scenario_seed("s", "run-a") == scenario_seed("s", "run-a")
    assert scenario_seed("s", "run-a", 7) == scenario_seed("s", "run-b", 7) == 7


def test_the_recipe_scenario_renders_vllm_bench_flags():
    recipe = BenchmarkScenario(name="recipe", input_len=8000, output_len=1024, num_prompts=32, request_rate=10)
    [point] = expand_scenario(recipe)
    args = " ".join(render_bench_args(point, "http://127.0.0.1:8000", "qwen-30b", "/m", "/out", "r.json", 5))
    for flag in (
        "--dataset-name random",
        "--random-input-len 8000",
        "--random-output-len 1024",
        "--request-rate 10",
        "--num-prompts 32",
        "--ignore-eos",
        "--save-result",
        "--seed 5",
        "--save-detailed",
    ):
        assert flag in args
    assert "--max-concurrency" not in args and "--goodput" not in args


def test_a_concurrency_ladder_doubles_up_to_its_max_with_warmups_and_goodput_targets():
    ladder = BenchmarkScenario.model_validate(
        {
            "name": "ladder",
            "input_len": 64,
            "output_len": 32,
            "num_prompts": 8,
            "warmups": 2,
            "concurrency_ladder": {"start": 1, "max": 8},
            "slo": {"ttft_ms": 500, "tpot_ms": 50},
        }
    )
    points = expand_scenario(ladder)
    assert [p.name for p in points] == ["ladder/c1", "ladder/c2", "ladder/c4", "ladder/c8"]
    args = " ".join(render_bench_args(points[2], "http://h", "m", "/t", "/o", "f.json", 1))
    assert "--max-concurrency 4" in args and "--num-warmups 2" in args and "--goodput ttft:500 tpot:50" in args


def test_a_request_rate_sweep_gives_one_point_per_rate():
    sweep = BenchmarkScenario(name="rates", input_len=8, output_len=8, num_prompts=4, request_rates=(1, 2.5))
    assert [p.name for p in expand_scenario(sweep)] == ["rates/r1", "rates/r2.5"]


def test_per_request_rows_follow_vllms_tpot_definition():
    raw = {
        "ttfts": [0.1, None],
        "latencies": [0.5, 0.0],
        "output_lens": [5, 0],
        "input_lens": [10, 10],
        "itls": [[0.1, 0.1, 0.1, 0.1], []],
        "start_times": [0.0, 0.1],
        "errors": ["", "timeout"],
    }
    ok, failed = parse_request_rows(raw)
    assert ok["ttft_ms"] == pytest.approx(100) and ok["tpot_ms"] == pytest.approx(100)
    assert ok["itl_mean_ms"] == pytest.approx(100) and ok["error"] is None
    assert failed["error"] == "timeout" and failed["ttft_ms"] is None
