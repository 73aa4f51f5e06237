"""A sweep file as a user writes it: its points, their keys, what each runs, and what is refused."""

from __future__ import annotations

import shutil

import pytest
import yaml

from resources.config.loader import ConfigError, load_partition, sweep_partitions, sweep_point_keys
from resources.serving.vllm_args import render_serve_args


@pytest.fixture
def configs(tmp_path, test_configs):
    """A copy of the test configs with an empty sweeps folder, for sweeps written by each test."""
    root = tmp_path / "configs"
    shutil.copytree(test_configs, root)
    shutil.rmtree(root / "sweeps", ignore_errors=True)
    (root / "sweeps").mkdir()
    return root


def write(root, name: str, spec: dict):
    path = root / "sweeps" / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def test_a_grid_of_two_settings_becomes_four_partitions_with_readable_stable_keys(configs):
    write(
        configs,
        "batching",
        {"base": "tiny-cpu-eager", "grid": {"max_num_seqs": [2, 8], "enable_prefix_caching": [True, False]}},
    )
    keys = sweep_partitions(configs)
    assert keys == [
        "batching.max_num_seqs-2.enable_prefix_caching-on",
        "batching.max_num_seqs-2.enable_prefix_caching-off",
        "batching.max_num_seqs-8.enable_prefix_caching-on",
        "batching.max_num_seqs-8.enable_prefix_caching-off",
    ]
    assert sweep_partitions(configs) == keys  # a pure function of the file: every process agrees


def test_a_point_runs_its_base_deployment_with_the_points_settings_on_the_sweeps_port(configs):
    write(configs, "batching", {"base": "tiny-cpu-eager", "port": 18777, "grid": {"max_num_seqs": [3]}})
    point = load_partition("batching.max_num_seqs-3", configs)
    base = load_partition("tiny-cpu-eager", configs)
    args = render_serve_args(point, "<model>")
    assert args[args.index("--max-num-seqs") + 1] == "3" and args[args.index("--port") + 1] == "18777"
    assert point.params.dtype == base.params.dtype and point.spec.benchmarks == base.spec.benchmarks
    assert point.sweep == "batching" and point.sweep_settings == {"max_num_seqs": 3}
    # One server slot for the whole sweep: starting a point replaces the previous point's server.
    assert point.service_name == "batching" and base.service_name == "tiny-cpu-eager"


def test_scenario_settings_vary_every_scenario_of_the_point(configs):
    write(
        configs,
        "load",
        {"base": "tiny-cpu-eager", "points": [{"bench.max_concurrency": 2}, {"bench.max_concurrency": 4}]},
    )
    point = load_partition("load.max_concurrency-4", configs)
    assert {s.max_concurrency for s in point.spec.benchmarks if s.concurrency_ladder is None} == {4}


def test_a_point_vllm_would_refuse_is_refused_with_the_reason_and_the_others_stay_runnable(configs):
    write(
        configs,
        "chunks",
        {
            "base": "tiny-cpu-eager",
            "points": [
                {"max_num_batched_tokens": 512, "enable_chunked_prefill": False},
                {"max_num_batched_tokens": 512, "enable_chunked_prefill": True},
            ],
        },
    )
    with pytest.raises(ConfigError) as refused:
        load_partition("chunks.max_num_batched_tokens-512.enable_chunked_prefill-off", configs)
    message = str(refused.value)
    assert "chunks.yaml: point 'chunks.max_num_batched_tokens-512.enable_chunked_prefill-off'" in message
    assert "max_num_batched_tokens (512) is below max_model_len (2048) with chunked prefill off" in message
    assert "turn enable_chunked_prefill on" in message
    chunked = load_partition("chunks.max_num_batched_tokens-512.enable_chunked_prefill-on", configs)
    assert "--enable-chunked-prefill" in render_serve_args(chunked, "<model>")


def test_an_unknown_setting_names_the_file_the_field_and_what_may_be_varied(configs):
    path = write(configs, "typo", {"base": "tiny-cpu-eager", "grid": {"max_num_seq": [2]}})
    with pytest.raises(ConfigError) as error:
        sweep_point_keys(path)
    assert str(path) in str(error.value) and "'max_num_seq' is not a serving parameter" in str(error.value)
    assert "max_num_seqs" in str(error.value) and "bench.max_concurrency" in str(error.value)


def test_a_broken_sweep_leaves_the_other_partitions_loadable(configs, caplog):
    (configs / "sweeps" / "broken.yaml").write_text("base: tiny-cpu-eager\ngrid: [not, a, mapping]\n")
    write(configs, "fine", {"base": "tiny-cpu-eager", "grid": {"max_num_seqs": [2]}})
    assert sweep_partitions(configs) == ["fine.max_num_seqs-2"]
    assert "broken.yaml" in caplog.text


def test_a_missing_base_deployment_is_named_with_the_ones_available(configs):
    write(configs, "orphan", {"base": "no-such-deployment", "grid": {"max_num_seqs": [2]}})
    with pytest.raises(ConfigError) as error:
        load_partition("orphan.max_num_seqs-2", configs)
    assert "base: deployment 'no-such-deployment' not found" in str(error.value) and "tiny-cpu-eager" in str(
        error.value
    )


def test_a_search_needs_slo_targets(configs):
    scenario = {"name": "cap", "input_len": 32, "output_len": 8, "num_prompts": 8, "slo_search": {"max": 4}}
    write(configs, "cap", {"base": "tiny-cpu-eager", "grid": {"max_num_seqs": [2]}, "benchmarks": [scenario]})
    with pytest.raises(ConfigError) as error:
        load_partition("cap.max_num_seqs-2", configs)
    assert "slo_search needs targets to meet" in str(error.value)


def test_the_shipped_cpu_sweep_has_four_points_each_with_its_serve_line(test_configs):
    keys = sweep_point_keys(test_configs / "sweeps" / "smollm2-cpu-batching.yaml")
    assert len(keys) == 4
    lines = {" ".join(render_serve_args(load_partition(key, test_configs), "<model>")) for key in keys}
    assert len(lines) == 4  # four different servers
