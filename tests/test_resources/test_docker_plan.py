"""``python -m pipelines plan``: the exact docker commands of the two recipe deployments (golden),
rendered without a Docker Engine, with secrets masked."""

from __future__ import annotations

import os
import shlex
import shutil

import pytest

from pipelines.__main__ import main
from resources.config.loader import config_dir, load_deployments
from resources.runtime.command_line import mask_argv, shell_join
from resources.runtime.docker.plan import render_plan

PORT = 8000 + int(os.environ["EVAL_TEST_PORT_OFFSET"])  # the qwen deployment's port, as tests/conftest.py moves it

QWEN = "qwen3-30b-a3b-fp8-2x24gb"
GLM5 = "glm5-int4-4gpu"


def _plan(key: str, **runtime_changes) -> str:
    deployment = load_deployments()[key]
    if runtime_changes:
        runtime = deployment.runtime.model_copy(update=runtime_changes)
        deployment = deployment.model_copy(update={"spec": deployment.spec.model_copy(update={"runtime": runtime})})
    return render_plan(deployment, config_dir())


def _command(plan: str, prefix: str) -> list[str]:
    """The plan's first line that starts with ``prefix`` (a deployment's first scenario: its recipe)."""
    return shlex.split(next(line for line in plan.splitlines() if line.startswith(prefix)))


def _flag(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


def test_the_qwen_plan_pulls_the_pinned_release_and_runs_the_recipe_on_two_gpus(capsys):
    assert main(["plan", QWEN]) == 0
    plan = capsys.readouterr().out
    assert _command(plan, "docker pull") == ["docker", "pull", "vllm/vllm-openai:v0.10.1.1"]
    run = _command(plan, "docker run")
    assert run[:4] == ["docker", "run", "-d", "--name"] and _flag(run, "--name") == f"vllm-eval-{QWEN}"
    assert _flag(run, "--gpus") == '"device=0,1"'
    assert _flag(run, "--shm-size") == "16g" and _flag(run, "--ipc") == "host"
    assert _flag(run, "--restart") == "unless-stopped" and "--init" in run
    assert _flag(run, "-p") == f"127.0.0.1:{PORT}:{PORT}"  # the tests move every port up by the offset
    assert "NCCL_P2P_DISABLE=1" in run and f"vllm-eval.partition={QWEN}" in run
    assert _flag(run, "--entrypoint") == "vllm"
    serve = run[run.index("vllm/vllm-openai:v0.10.1.1") + 1 :]
    assert serve[0] == "serve" and serve[1].startswith("/model-repo/snapshots/")
    assert _flag(serve, "--tensor-parallel-size") == "2" and _flag(serve, "--max-model-len") == "16384"
    assert _flag(serve, "--gpu-memory-utilization") == "0.9" and _flag(serve, "--kv-cache-dtype") == "fp8"
    assert _flag(serve, "--served-model-name") == "qwen-30b" and _flag(serve, "--host") == "0.0.0.0"
    assert _flag(serve, "--dtype") == "auto", "the recipe's --dtype fp8 is not a vLLM dtype"
    [weights] = [v for v in run if v.endswith(":/model-repo:ro")]
    assert weights.endswith("models--Qwen--Qwen3-30B-A3B-Instruct-2507-FP8:/model-repo:ro")


def test_the_qwen_plan_benchmarks_with_the_recipes_load_from_inside_the_container():
    bench = _command(_plan(QWEN), "docker exec")
    assert bench[:3] == ["docker", "exec", f"vllm-eval-{QWEN}"] and bench[3:6] == ["vllm", "bench", "serve"]
    assert _flag(bench, "--base-url") == f"http://127.0.0.1:{PORT}"
    assert _flag(bench, "--random-input-len") == "8000" and _flag(bench, "--random-output-len") == "1024"
    assert _flag(bench, "--request-rate") == "10" and _flag(bench, "--num-prompts") == "32"
    assert "--ignore-eos" in bench and _flag(bench, "--seed") == "<per-run-seed>"


def test_the_glm5_plan_builds_its_image_from_pinned_arguments_and_runs_it_on_four_gpus():
    plan = _plan(GLM5)
    build = _command(plan, "docker build")
    assert "BASE_IMAGE=vllm/vllm-openai:v0.17.1-cu130" in build
    assert "TRANSFORMERS_REF=UNPINNED" in build, "the transformers commit is not known yet, and says so"
    tag = _flag(build, "-t")
    assert tag.startswith("vllm-eval/glm5:ctx-") and build[-1].endswith("configs/images/glm5")
    run = _command(plan, "docker run")
    assert _flag(run, "--gpus") == '"device=0,1,2,3"' and "--ipc" not in run and _flag(run, "--shm-size") == "16g"
    assert tag in run, "the container runs the image the build step tags"
    serve = run[run.index(tag) + 1 :]
    assert _flag(serve, "--tensor-parallel-size") == "4" and _flag(serve, "--served-model-name") == "glm5"
    assert _flag(serve, "--gpu-memory-utilization") == "0.85"
    assert _flag(serve, "--tool-call-parser") == "glm47" and _flag(serve, "--reasoning-parser") == "glm45"
    assert "--enable-auto-tool-choice" in serve and "--trust-remote-code" in serve


def test_the_build_tag_changes_only_when_the_context_or_arguments_do(test_configs, tmp_path):
    """The tag is the build's content hash: the same Dockerfile and arguments are never built twice,
    and a changed file, a new file or a changed argument is built anew."""
    configs = tmp_path / "configs"
    shutil.copytree(test_configs, configs)
    glm5 = load_deployments(configs)[GLM5]
    context = configs / glm5.runtime.docker.image.build.context

    def tag(deployment=glm5) -> str:
        return _flag(_command(render_plan(deployment, configs), "docker build"), "-t")

    def with_build(**changes):
        build = glm5.runtime.docker.image.build.model_copy(update=changes)
        docker = glm5.runtime.docker.model_copy(
            update={"image": glm5.runtime.docker.image.model_copy(update={"build": build})}
        )
        runtime = glm5.runtime.model_copy(update={"docker": docker})
        return glm5.model_copy(update={"spec": glm5.spec.model_copy(update={"runtime": runtime})})

    def with_runtime(**changes):
        runtime = glm5.runtime.model_copy(update=changes)
        return glm5.model_copy(update={"spec": glm5.spec.model_copy(update={"runtime": runtime})})

    first = tag()
    assert tag() == first, "the same inputs give the same tag"
    # What the container does with the image is not the image.
    assert tag(with_runtime(port=9000, startup_timeout_s=60)) == first

    pinned = {**glm5.runtime.docker.image.build.args, "TRANSFORMERS_REF": "0123456789abcdef0123456789abcdef01234567"}
    by_argument = tag(with_build(args=pinned))
    assert by_argument != first, "a changed build argument is a new image"

    dockerfile = context / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text() + "\n# a comment is a change of the file\n")
    by_edit = tag()
    assert by_edit not in (first, by_argument), "a changed file in the context is a new image"

    (context / "requirements.txt").write_text("transformers\n")
    assert tag() not in (first, by_argument, by_edit), "a new file in the context is a new image"


def test_a_remote_engine_appears_in_every_docker_command():
    deployment = load_deployments()[QWEN]
    docker = deployment.runtime.docker.model_copy(update={"engine": "ssh://ops@gpu-4090-box"})
    plan = _plan(QWEN, docker=docker, host="10.0.0.5")
    commands = [line for line in plan.splitlines() if line.startswith("docker")]
    assert commands and all(shlex.split(c)[1:3] == ["-H", "ssh://ops@gpu-4090-box"] for c in commands)
    assert f"-p 10.0.0.5:{PORT}:{PORT}" in plan


def test_secrets_are_never_printed_only_the_variables_they_come_from(monkeypatch):
    monkeypatch.setenv("QWEN_API_KEY", "sk-very-secret")
    monkeypatch.setenv("HF_TOKEN", "hf_secret_token")
    plan = _plan(QWEN, api_key_env="QWEN_API_KEY", env={"NCCL_P2P_DISABLE": "1", "WANDB_API_KEY": "abc123"})
    assert "sk-very-secret" not in plan and "hf_secret_token" not in plan and "abc123" not in plan
    assert 'VLLM_API_KEY="$QWEN_API_KEY"' in plan, "the server reads its key from the environment"
    assert 'OPENAI_API_KEY="$QWEN_API_KEY"' in plan, "the benchmark sends it from the environment"
    assert "WANDB_API_KEY=***" in plan


def test_masking_covers_secret_flags_and_secret_named_pairs():
    assert mask_argv(["serve", "--api-key", "sk-1", "-e", "HF_TOKEN=hf_x", "-e", "A=1"]) == [
        "serve",
        "--api-key",
        "***",
        "-e",
        "HF_TOKEN=***",
        "-e",
        "A=1",
    ]
    assert shell_join(["-e", "VLLM_API_KEY=$MY_KEY"]) == '-e VLLM_API_KEY="$MY_KEY"'


def test_planning_a_process_deployment_shows_its_local_command(capsys):
    assert main(["plan", "tiny-cpu-eager"]) == 0
    out = capsys.readouterr().out
    assert "no docker command runs" in out and "resources.serving.vllm_cli serve" in out


def test_planning_an_unknown_partition_names_the_ones_there_are(capsys):
    assert main(["plan", "nope"]) == 2
    assert QWEN in capsys.readouterr().err


@pytest.mark.parametrize("key", [QWEN, GLM5])
def test_the_recipe_deployments_declare_what_the_gpu_preflight_needs(key):
    model = load_deployments()[key].model
    assert model.total_params_b and model.bytes_per_param and model.kv_bytes_per_token and model.kv_heads


def test_a_client_container_benchmark_joins_the_services_network_with_the_weights_mounted():
    deployment = load_deployments()[QWEN]
    docker = deployment.runtime.docker.model_copy(update={"bench": "client"})
    argv = _command(_plan(QWEN, docker=docker), "docker run --rm")
    assert _flag(argv, "--network") == f"container:vllm-eval-{QWEN}" and _flag(argv, "--entrypoint") == "vllm"
    assert any(v.endswith(":/model-repo:ro") for v in argv) and "NCCL_P2P_DISABLE=1" in argv
    assert argv[argv.index("vllm/vllm-openai:v0.10.1.1") + 1 :][:2] == ["bench", "serve"]
