"""The vllm serve command a deployment renders to, and the hash that identifies a server."""

from pathlib import Path

from resources.config.loader import load_deployments
from resources.serving.vllm_args import config_hash, render_serve_args

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def test_the_eager_cpu_deployment_renders_the_flags_of_its_parameter_set():
    deployment = load_deployments(CONFIGS)["tiny-cpu-eager"]
    args = render_serve_args(deployment, "/models/tiny")
    assert args[0] == "/models/tiny"
    joined = " ".join(args)
    for flag in (
        "--served-model-name tiny",
        "--host 127.0.0.1",
        "--port 8101",
        "--dtype float32",
        "--max-model-len 2048",
        "--kv-cache-memory-bytes 512M",
        "--enforce-eager",
    ):
        assert flag in joined
    assert "--api-key" not in joined


def test_the_compiled_deployment_differs_only_by_eager_mode_and_port():
    deployments = load_deployments(CONFIGS)
    eager = set(render_serve_args(deployments["tiny-cpu-eager"], "/m"))
    compiled = set(render_serve_args(deployments["tiny-cpu-compiled"], "/m"))
    assert eager - compiled == {"--enforce-eager", "8101"} and compiled - eager == {"8102"}


def test_the_config_hash_changes_with_weights_image_or_arguments_and_not_otherwise():
    deployments = load_deployments(CONFIGS)
    eager = deployments["tiny-cpu-eager"]
    base = config_hash(eager, "generated:tiny@sha256:1", "local:vllm==1")
    assert base == config_hash(eager, "generated:tiny@sha256:1", "local:vllm==1")
    assert base != config_hash(eager, "generated:tiny@sha256:2", "local:vllm==1")
    assert base != config_hash(eager, "generated:tiny@sha256:1", "local:vllm==2")
    assert base != config_hash(deployments["tiny-cpu-compiled"], "generated:tiny@sha256:1", "local:vllm==1")
