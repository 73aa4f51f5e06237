"""Workloads beyond vLLM's random prompts: a shared system prompt, a replayed trace, and the
prefix-cache hits each implies."""

from __future__ import annotations

import json
import shutil
import statistics

import pytest
import yaml

from resources.benchmark.command import expand_scenario, render_bench_args
from resources.benchmark.trace import TraceError, bursty_trace, read_trace, write_trace
from resources.config.loader import ConfigError, load_partition
from resources.config.models import BenchmarkScenario
from resources.results.prefix_cache import implied_hit_rate, prefix_cache_flag


def _args(scenario: BenchmarkScenario) -> list[str]:
    [point] = expand_scenario(scenario)
    return render_bench_args(point, "http://127.0.0.1:1", "m", "/tok", "/out", "r.json", 7)


def _after(args: list[str], flag: str) -> str:
    return args[args.index(flag) + 1]


def test_a_shared_system_prompt_is_vllms_prefix_repetition_dataset_with_the_rest_of_each_prompt_its_own():
    scenario = BenchmarkScenario(
        name="chat", input_len=256, output_len=16, num_prompts=16,
        workload={"kind": "shared_prefix", "prefix_len": 192, "num_prefixes": 2},
    )  # fmt: skip
    args = _args(scenario)
    assert _after(args, "--dataset-name") == "prefix_repetition"
    assert (_after(args, "--prefix-repetition-prefix-len"), _after(args, "--prefix-repetition-suffix-len")) == (
        "192",
        "64",
    )
    assert _after(args, "--prefix-repetition-num-prefixes") == "2" and "--random-input-len" not in args


def test_a_prefix_as_long_as_the_prompt_is_refused():
    with pytest.raises(ValueError, match=r"prefix_len \(256\) must be shorter than input_len \(256\)"):
        BenchmarkScenario(
            name="x", input_len=256, output_len=8, num_prompts=8, workload={"kind": "shared_prefix", "prefix_len": 256}
        )


def test_a_trace_is_replayed_by_vllms_timed_trace_at_its_own_times(test_configs):
    scenario = BenchmarkScenario(
        name="t", input_len=192, output_len=16, num_prompts=32,
        workload={"kind": "trace", "file": "bursty-chat-small", "time_scale": 0.5},
    )  # fmt: skip
    args = _args(scenario)
    assert _after(args, "--dataset-name") == "timed_trace"
    assert _after(args, "--dataset-path") == str(test_configs / "traces" / "bursty-chat-small.jsonl")
    assert _after(args, "--timed-trace-sec-multiplier") == "0.5"


def test_the_random_workload_keeps_the_arguments_it_always_had():
    args = _args(BenchmarkScenario(name="r", input_len=128, output_len=64, num_prompts=8))
    assert args[args.index("--dataset-name") : args.index("--dataset-name") + 6] == [
        "--dataset-name", "random", "--random-input-len", "128", "--random-output-len", "64",
    ]  # fmt: skip


def test_a_synthetic_bursty_trace_has_its_rate_its_bursts_and_its_shared_prompt():
    calm = bursty_trace(2000, rate=4.0, burstiness=1.0, input_len=256, output_len=32, shared_prefix=128, seed=1)
    bursty = bursty_trace(2000, rate=4.0, burstiness=0.25, input_len=256, output_len=32, shared_prefix=128, seed=1)
    for rows in (calm, bursty):
        assert 2000 / rows[-1]["timestamp"] == pytest.approx(4.0, rel=0.1)
        assert all(r["hash_ids"][:8] == list(range(8)) for r in rows)  # the 128 shared tokens: 8 blocks
    gaps = [[b["timestamp"] - a["timestamp"] for a, b in zip(rows, rows[1:])] for rows in (calm, bursty)]
    cv = [statistics.stdev(g) / statistics.mean(g) for g in gaps]
    assert cv[0] == pytest.approx(1.0, abs=0.1) and cv[1] == pytest.approx(2.0, abs=0.3)  # gamma: 1/sqrt(shape)
    assert bursty_trace(5, 1, 1, 64, 8, seed=3) == bursty_trace(5, 1, 1, 64, 8, seed=3)


def test_a_traces_repeated_blocks_are_what_a_prefix_cache_could_hit(tmp_path):
    path = tmp_path / "t.jsonl"
    write_trace(path, bursty_trace(50, 2.0, 1.0, input_len=256, output_len=8, shared_prefix=128, jitter=0.0))
    trace = read_trace(path)
    assert trace.repeated_share() == pytest.approx(49 * 128 / (50 * 256))
    assert trace.leading_repeats()[:2] == [0, 128]
    assert trace.longest == 264 and len(trace.sha256) == 64


def test_a_broken_trace_names_the_line_and_the_missing_field(tmp_path):
    path = tmp_path / "broken.jsonl"
    path.write_text(
        json.dumps({"timestamp": 0, "input_length": 10, "output_length": 2})
        + "\n"
        + json.dumps({"timestamp": 1})
        + "\n"
    )
    with pytest.raises(TraceError, match=r"broken.jsonl: line 2: missing input_length, output_length"):
        read_trace(path)
    with pytest.raises(TraceError, match="make-trace nothing-here"):
        read_trace(tmp_path / "nothing-here.jsonl")


def test_a_deployment_replaying_a_missing_or_too_long_trace_fails_when_read_naming_the_scenario(tmp_path, test_configs):
    root = tmp_path / "configs"
    shutil.copytree(test_configs, root)
    spec = yaml.safe_load((root / "deployments" / "tiny-cpu-eager.yaml").read_text())
    spec["benchmarks"] = [
        {
            "name": "replay",
            "input_len": 64,
            "output_len": 8,
            "num_prompts": 8,
            "workload": {"kind": "trace", "file": "gone"},
        }
    ]
    (root / "deployments" / "tiny-cpu-eager.yaml").write_text(yaml.safe_dump(spec))
    with pytest.raises(
        ConfigError, match=r"tiny-cpu-eager.yaml: benchmark scenario 'replay': .*gone.jsonl: no such trace"
    ):
        load_partition("tiny-cpu-eager", root)
    write_trace(root / "traces" / "gone.jsonl", bursty_trace(4, 1.0, 1.0, input_len=4000, output_len=8, jitter=0.0))
    with pytest.raises(ConfigError, match="has a request of 4008 tokens, beyond max_model_len 2048"):
        load_partition("tiny-cpu-eager", root)


def test_vllms_warmups_explain_a_random_ladders_ten_percent_of_prefix_cache_hits():
    # vLLM's warm-ups send the point's first prompt: with 2 warm-ups and 16 prompts of 128 tokens the
    # second warm-up and the first measured request find it cached, in whole 16-token blocks on a GPU
    # (112 of 128 tokens: the last token is always computed): 224 of 2,304 prompt tokens, 9.7 %.
    ladder = BenchmarkScenario(name="l", input_len=128, output_len=256, num_prompts=16, warmups=2)
    assert implied_hit_rate(ladder, block=16) == pytest.approx(224 / 2304)
    assert prefix_cache_flag(0.10, implied_hit_rate(ladder, block=16)) is None
    flag = prefix_cache_flag(0.40, implied_hit_rate(ladder, block=16))
    assert flag.startswith("prefix-cache hits 40 % of prompt tokens where the workload implies at most 10 %")
    assert implied_hit_rate(BenchmarkScenario(name="c", input_len=128, output_len=8, num_prompts=16)) == 0


def test_a_shared_prompt_implies_its_share_of_hits_in_whole_blocks():
    chat = BenchmarkScenario(
        name="chat", input_len=256, output_len=16, num_prompts=16, warmups=1,
        workload={"kind": "shared_prefix", "prefix_len": 192},
    )  # fmt: skip
    # A GPU's 16-token blocks: the 193-token prefix (with its start token) hits 192 after the first prompt.
    assert implied_hit_rate(chat, [256] * 16, block=16) == pytest.approx((240 + 15 * 192) / (17 * 256))
    # vLLM's CPU build caches 128-token blocks: one block of the prefix can hit.
    assert implied_hit_rate(chat, [256] * 16, block=128) == pytest.approx((128 + 15 * 128) / (17 * 256))
    short = chat.model_copy(update={"workload": chat.workload.model_copy(update={"prefix_len": 96})})
    assert implied_hit_rate(short, [256] * 16, block=128) == pytest.approx(128 / (17 * 256))  # under a block: none


def test_the_server_reports_its_block_size_in_its_metrics():
    from pathlib import Path

    from resources.serving.server_side import cache_block_size

    fixtures = Path(__file__).resolve().parents[1] / "fixtures"
    assert cache_block_size((fixtures / "vllm" / "metrics_cpu_after_stream.txt").read_text()) == 128


def test_only_like_is_compared_with_like_and_results_from_before_workloads_read_as_random():
    import pandas as pd

    from resources.results.regression import workload_identity

    frame = pd.DataFrame(
        {
            "workload": [None, "random", "shared_prefix", "shared_prefix", "trace", "trace"],
            "workload_params": [
                None,
                "{}",
                '{"prefix_len": 96}',
                '{"prefix_len": 64}',
                '{"file": "t"}',
                '{"file": "t"}',
            ],
            "workload_sha256": [None, None, None, None, "aaa", "bbb"],
        }
    )
    ids = list(workload_identity(frame))
    assert ids[0] == ids[1]  # a result recorded before workloads is a random one: its history still counts
    assert len(set(ids[1:])) == 5  # another prefix, another trace file: not like
    assert list(workload_identity(pd.DataFrame({"x": [1]}))) == ["random||"]  # a file from before the columns
