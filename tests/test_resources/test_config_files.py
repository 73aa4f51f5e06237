"""A user edits files under configs/; mistakes must be named by file, field and fix."""

from pathlib import Path

import pytest
import yaml

from resources.config.loader import ConfigError, load_deployments
from tests.test_resources.config_tree import write_config_tree

PROJECT_CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def _tree(tmp_path: Path, deployment: dict, params: dict | None = None, model: dict | None = None) -> Path:
    return write_config_tree(tmp_path, deployment, params, model, name="my-model")


GOOD = {
    "model": "tiny",
    "params": "cpu",
    "served_model_name": "tiny",
    "runtime": {"kind": "process", "device": "cpu", "port": 9001},
    "benchmarks": [{"name": "short", "input_len": 16, "output_len": 8, "num_prompts": 4}],
}


def test_the_shipped_configs_give_two_cpu_partitions_that_differ_in_one_serving_parameter():
    deployments = load_deployments(PROJECT_CONFIGS)
    cpu = {k: d for k, d in deployments.items() if d.runtime.device == "cpu"}
    assert set(cpu) >= {"tiny-cpu-eager", "tiny-cpu-compiled"}
    eager, compiled = cpu["tiny-cpu-eager"].params, cpu["tiny-cpu-compiled"].params
    differing = {f for f in type(eager).model_fields if getattr(eager, f) != getattr(compiled, f)}
    assert differing == {"enforce_eager"}


def test_adding_a_deployment_file_adds_a_partition_named_after_it(tmp_path):
    deployments = load_deployments(_tree(tmp_path, GOOD))
    assert list(deployments) == ["my-model"]
    assert deployments["my-model"].runtime.host == "127.0.0.1"


def test_an_unknown_field_names_the_file_and_the_field(tmp_path):
    bad = {**GOOD, "runtime": {**GOOD["runtime"], "prot": 9002}}
    with pytest.raises(ConfigError) as error:
        load_deployments(_tree(tmp_path, bad))
    message = str(error.value)
    assert "my-model.yaml" in message and "runtime.prot" in message and "unknown field" in message


def test_fp8_as_dtype_is_refused_with_the_reason_and_the_fix(tmp_path):
    with pytest.raises(ConfigError) as error:
        load_deployments(_tree(tmp_path, GOOD, params={"dtype": "fp8", "kv_cache_memory_bytes": "1G"}))
    message = str(error.value)
    assert "cpu.yaml" in message and "dtype" in message
    assert "detected from the weights" in message and "kv_cache_dtype: fp8" in message


def test_a_deployment_naming_a_missing_parameter_set_lists_the_ones_there_are(tmp_path):
    with pytest.raises(ConfigError) as error:
        load_deployments(_tree(tmp_path, {**GOOD, "params": "gpu-fast"}))
    message = str(error.value)
    assert "params: 'gpu-fast' not found" in message and "Available: cpu" in message


def test_a_hub_model_without_a_pinned_revision_is_refused(tmp_path):
    with pytest.raises(ConfigError) as error:
        load_deployments(_tree(tmp_path, GOOD, model={"source": "huggingface", "repo": "org/model"}))
    assert "pinned 'revision'" in str(error.value)


def test_a_cpu_deployment_must_bound_its_kv_cache(tmp_path):
    with pytest.raises(ConfigError) as error:
        load_deployments(_tree(tmp_path, GOOD, params={"dtype": "float32"}))
    assert "kv_cache_memory_bytes" in str(error.value) and "most of the host's RAM" in str(error.value)


def test_malformed_yaml_names_the_line(tmp_path):
    root = _tree(tmp_path, GOOD)
    (root / "deployments" / "my-model.yaml").write_text("model: tiny\nparams: [cpu\n")
    with pytest.raises(ConfigError) as error:
        load_deployments(root)
    assert "my-model.yaml: not valid YAML at line" in str(error.value)


def test_a_wrong_type_says_what_was_expected(tmp_path):
    bad = {**GOOD, "runtime": {**GOOD["runtime"], "port": "eighty"}}
    with pytest.raises(ConfigError) as error:
        load_deployments(_tree(tmp_path, bad))
    assert "runtime.port" in str(error.value) and "integer" in str(error.value)


def test_a_mistake_in_one_deployment_leaves_the_others_runnable_and_is_named_when_its_partition_runs(tmp_path):
    from resources.config.loader import deployment_files, load_partition
    from resources.dagster_resources import DeploymentCatalog

    root = _tree(tmp_path, GOOD)
    (root / "deployments" / "typo.yaml").write_text(yaml.safe_dump({**GOOD, "params": "cpuu"}))
    # The partitions are the file names: listing them reads no file.
    assert [p.stem for p in deployment_files(root)] == ["my-model", "typo"]
    catalog = DeploymentCatalog(config_root=str(root))
    assert catalog.get("my-model").params_name == "cpu"
    with pytest.raises(ConfigError, match=r"typo\.yaml: params: 'cpuu' not found.*Available: cpu"):
        catalog.get("typo")
    with pytest.raises(ConfigError, match=r"no deployment file for partition 'gone'.*Available: my-model, typo"):
        load_partition("gone", root)
