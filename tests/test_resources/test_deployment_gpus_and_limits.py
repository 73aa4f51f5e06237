"""The gates judge exactly what the deployment will get: its pinned GPUs, the disk its weights land
on, the context it will serve; and configs that cannot be replayed or served safely are refused.

The busy host is derived from the real two-H200 recording (tests/fixtures/nvml/h200_x2), edited
in memory so that another job holds 60,000 MiB of GPU 0; every other answer is the real driver's.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from resources.config.loader import ConfigError, load_deployments
from resources.config.models import UNPINNED, Deployment
from resources.config.pins import UnpinnedError, refuse_unpinned, unpinned_inputs
from resources.hardware.gates import evaluate_gates
from resources.hardware.nvml_source import ReplayNvml
from resources.hardware.requirements import gate_requirements, pinned_gpu_ids, used_gpu_ids
from resources.hardware.snapshot import HardwareSnapshot
from resources.runtime import runtime_for
from resources.runtime.startup_wait import ServiceStartError
from resources.weights.fetch import WeightsError, fetch_weights, weights_landing_dir
from tests.test_resources.test_config_files import GOOD, _tree
from tests.test_resources.test_hardware_report import load_recording, replay, with_foreign_process

QWEN, GLM5 = "qwen3-30b-a3b-fp8-2x24gb", "glm5-int4-4gpu"


def _recipe(key: str, tp: int | None = None, params: dict | None = None, **runtime_changes) -> Deployment:
    deployment = load_deployments()[key]
    updates = (
        {"spec": deployment.spec.model_copy(update={"runtime": deployment.runtime.model_copy(update=runtime_changes)})}
        if runtime_changes
        else {}
    )
    if tp or params:
        updates["params"] = deployment.params.model_copy(
            update={**({"tensor_parallel_size": tp} if tp else {}), **(params or {})}
        )
    return deployment.model_copy(update=updates)


def _pinned_to(gpu: int, kind: str = "docker") -> Deployment:
    """Qwen on one GPU, pinned to ``gpu`` by docker's gpus or by CUDA_VISIBLE_DEVICES for a process."""
    qwen = _recipe(QWEN, tp=1)
    if kind == "docker":
        return _recipe(QWEN, tp=1, docker=qwen.runtime.docker.model_copy(update={"gpus": (gpu,)}))
    return _recipe(QWEN, tp=1, kind="process", docker=None, env={"CUDA_VISIBLE_DEVICES": str(gpu)})


def _busy_gpu0() -> dict:
    return with_foreign_process(load_recording("h200_x2"), gpu=0, pid=4242, used_mib=60000)


def _verdicts(deployment: Deployment, recording: dict) -> dict:
    return {g.name: g for g in evaluate_gates(replay(recording), gate_requirements(deployment, False, environ={}))}


# ---- pinned GPUs ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["docker", "process"])
def test_a_busy_gpu_0_passes_a_deployment_pinned_to_gpu_1_and_refuses_one_pinned_to_gpu_0(kind):
    on_gpu1, on_gpu0 = _verdicts(_pinned_to(1, kind), _busy_gpu0()), _verdicts(_pinned_to(0, kind), _busy_gpu0())

    assert on_gpu1["gpu_idle"].passed and on_gpu1["gpu_memory"].passed and on_gpu1["gpu_count"].passed
    assert "GPU 0" not in on_gpu1["gpu_idle"].description and on_gpu1["gpu_memory"].metadata["gpu"] == 1
    assert not on_gpu0["gpu_idle"].passed
    assert "GPU 0 runs other compute processes: pid 4242 (60000 MiB)" in on_gpu0["gpu_idle"].description


def test_the_gates_read_the_pins_from_docker_gpus_or_cuda_visible_devices():
    assert pinned_gpu_ids(_recipe(QWEN)) == [0, 1]
    assert pinned_gpu_ids(_recipe(GLM5), {}) == [0, 1, 2, 3]
    assert pinned_gpu_ids(_pinned_to(1, "process"), {}) == [1]
    process_unpinned = _recipe(QWEN, tp=2, kind="process", docker=None)
    assert pinned_gpu_ids(process_unpinned, {"CUDA_VISIBLE_DEVICES": "2,3"}) == [2, 3], "inherited by the server"
    assert used_gpu_ids(process_unpinned, {}) == [0, 1], "unpinned: the first tensor_parallel_size GPUs"
    all_gpus = _recipe(QWEN, docker=_recipe(QWEN).runtime.docker.model_copy(update={"gpus": "all"}))
    assert pinned_gpu_ids(all_gpus, {}) is None


def test_a_deployment_pinned_to_gpus_the_host_lacks_is_refused_naming_them():
    pinned = _recipe(QWEN, docker=_recipe(QWEN).runtime.docker.model_copy(update={"gpus": (2, 3)}))
    gate = _verdicts(pinned, load_recording("h200_x2"))["gpu_count"]
    assert not gate.passed and "pinned to GPUs [2, 3]" in gate.description and "[2, 3] do not exist" in gate.description


def test_the_runs_gpu_model_comes_from_the_pinned_gpu_not_gpu_0():
    report = replay(_busy_gpu0())
    snapshot = HardwareSnapshot(report.fingerprint, True, report.as_dict())
    [used] = snapshot.gpus_used(used_gpu_ids(_pinned_to(1), {}))
    assert used["index"] == 1 and used["name"] == "NVIDIA H200" and used["compute_processes"] == []


def test_the_process_runtime_refuses_to_start_beside_a_foreign_process_on_its_gpu(tmp_path, monkeypatch):
    monkeypatch.setenv("EVAL_HOME", str(tmp_path))  # no state of ours: every process there is foreign
    with pytest.raises(ServiceStartError, match=r"refusing to start .*GPU 0: pid 4242 \(60000 MiB\)"):
        runtime_for(_pinned_to(0, "process")).refuse_foreign_gpu_work(ReplayNvml(_busy_gpu0()))
    runtime_for(_pinned_to(1, "process")).refuse_foreign_gpu_work(ReplayNvml(_busy_gpu0()))  # GPU 1 is free


# ---- the context length ----------------------------------------------------------------------


def test_glm5_without_max_model_len_gets_a_verdict_naming_the_field_not_a_crash():
    glm5 = _recipe(GLM5, params={"max_model_len": None})  # the user's GLM-5 command sets none
    gate = _verdicts(glm5, load_recording("h200_x2"))["gpu_memory"]
    assert not gate.passed
    assert "max_model_len is not set in configs/params/glm5-int4-tp4.yaml" in gate.description


def test_without_max_model_len_the_models_max_position_embeddings_is_used_as_vllm_does():
    # Qwen3-30B-A3B-Instruct-2507's config.json says max_position_embeddings: 262144.
    qwen = _recipe(QWEN, params={"max_model_len": None})
    requirements = gate_requirements(qwen, False, model_config={"max_position_embeddings": 262144}, environ={})
    assert requirements.max_model_len == 262144
    gate = {g.name: g for g in evaluate_gates(replay(load_recording("h200_x2")), requirements)}["gpu_memory"]
    assert gate.passed and "sequences of 262144" in gate.description


def test_a_scenario_longer_than_max_model_len_is_refused_when_the_configs_load(tmp_path):
    params = {"dtype": "float32", "kv_cache_memory_bytes": "512M", "max_model_len": 2048}
    deployment = {
        **GOOD,
        "benchmarks": [
            {"name": "fits", "input_len": 1024, "output_len": 1024, "num_prompts": 1},
            {"name": "too-long", "input_len": 2000, "output_len": 64, "num_prompts": 1},
        ],
    }
    with pytest.raises(ConfigError) as error:
        load_deployments(_tree(tmp_path, deployment, params=params))
    message = str(error.value)
    assert "my-model.yaml" in message and "'too-long'" in message and "'fits'" not in message
    assert "2064 tokens exceeds max_model_len 2048" in message


# ---- where the weights land -----------------------------------------------------------------


def test_the_disk_gate_measures_the_hub_cache_for_hub_models_and_the_folder_for_the_others(tmp_path):
    from huggingface_hub.constants import HF_HUB_CACHE

    assert weights_landing_dir(_recipe(QWEN)) == Path(HF_HUB_CACHE)
    tiny = load_deployments()["tiny-cpu-eager"]
    local = tiny.model_copy(update={"model": tiny.model.model_copy(update={"source": "local", "path": str(tmp_path)})})
    assert weights_landing_dir(local) == tmp_path
    captured = runtime_for(local).capture_hardware()
    assert captured.report.host.weights_dir == str(tmp_path) and captured.report.host.weights_dir_free_bytes > 0
    assert captured.weights_present is False, "no config.json in that folder yet: the disk gate counts the weights"


# ---- honest pins -----------------------------------------------------------------------------


def test_the_recipe_configs_are_flagged_unpinned_not_taken_for_commits():
    deployments = load_deployments()
    assert deployments[QWEN].model.revision == UNPINNED and deployments[GLM5].model.revision == UNPINNED
    qwen = [u.field for u in unpinned_inputs(deployments[QWEN])]
    glm5 = [u.field for u in unpinned_inputs(deployments[GLM5])]
    assert qwen == ["configs/models/qwen3-30b-a3b-instruct-2507-fp8.yaml: revision"]
    assert glm5 == [
        "configs/models/glm-5-int4-autoround.yaml: revision",
        f"configs/deployments/{GLM5}.yaml: runtime.docker.image.build.args.TRANSFORMERS_REF",
    ]
    assert unpinned_inputs(deployments["tiny-cpu-eager"]) == []


def test_plan_shows_what_is_unpinned_and_how_to_find_the_commit(capsys):
    from pipelines.__main__ import main

    assert main(["plan", GLM5]) == 0
    out = capsys.readouterr().out
    assert "# NOT PINNED: configs/models/glm-5-int4-autoround.yaml: revision is UNPINNED" in out
    assert "git ls-remote https://huggingface.co/Intel/GLM-5-int4-AutoRound refs/heads/main" in out
    assert "git ls-remote https://github.com/huggingface/transformers.git refs/heads/main" in out


def test_a_run_refuses_an_unpinned_deployment_printing_the_command_that_finds_the_commit():
    qwen = load_deployments()[QWEN]
    with pytest.raises(
        UnpinnedError, match=r"git ls-remote https://huggingface.co/Qwen/Qwen3-30B-A3B-Instruct-2507-FP8"
    ):
        refuse_unpinned(qwen)
    with pytest.raises(WeightsError, match="revision is UNPINNED"):
        fetch_weights(qwen.model_name, qwen.model, offline=True)


# ---- remote engines safely -------------------------------------------------------------------


def _folder(path: Path) -> Path:
    path.mkdir()
    return path


def _docker_deployment(tmp_path: Path, docker: dict, **runtime) -> dict:
    return {
        **GOOD,
        "runtime": {
            "kind": "docker",
            "device": "cpu",
            "port": 9001,
            **runtime,
            "docker": {"image": {"pull": "vllm/vllm-openai:v0.10.1.1"}, **docker},
        },
    }


def test_a_tcp_engine_needs_tls_unless_the_config_says_insecure(tmp_path):
    with pytest.raises(ConfigError, match=r"engine tcp://10.0.0.5:2375 is plain tcp://: set tls"):
        load_deployments(
            _tree(_folder(tmp_path / "a"), _docker_deployment(tmp_path, {"engine": "tcp://10.0.0.5:2375"}))
        )
    assert load_deployments(
        _tree(
            _folder(tmp_path / "b"), _docker_deployment(tmp_path, {"engine": "tcp://10.0.0.5:2375", "insecure": True})
        )
    )
    tls = {"ca_cert": "/etc/eval/ca.pem", "client_cert": "/etc/eval/cert.pem", "client_key": "/etc/eval/key.pem"}
    [deployment] = load_deployments(
        _tree(_folder(tmp_path / "c"), _docker_deployment(tmp_path, {"engine": "tcp://10.0.0.5:2376", "tls": tls}))
    ).values()
    assert deployment.runtime.docker.tls.ca_cert == "/etc/eval/ca.pem"
    with pytest.raises(ConfigError, match="tls applies to a tcp:// engine only"):
        load_deployments(
            _tree(_folder(tmp_path / "d"), _docker_deployment(tmp_path, {"engine": "ssh://gpu", "tls": tls}))
        )


def test_a_server_published_beyond_loopback_needs_an_api_key(tmp_path):
    with pytest.raises(ConfigError, match=r"host 0.0.0.0 publishes the server beyond this machine: set api_key_env"):
        load_deployments(_tree(_folder(tmp_path / "a"), {**GOOD, "runtime": {**GOOD["runtime"], "host": "0.0.0.0"}}))
    assert load_deployments(
        _tree(
            _folder(tmp_path / "b"),
            {**GOOD, "runtime": {**GOOD["runtime"], "host": "0.0.0.0", "api_key_env": "VLLM_API_KEY"}},
        )
    )
    assert load_deployments(
        _tree(_folder(tmp_path / "c"), {**GOOD, "runtime": {**GOOD["runtime"], "host": "127.0.0.2"}})
    )
