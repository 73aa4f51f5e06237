"""The docker runtime's pure parts: config checks, the container spec, addresses and bench arguments."""

from __future__ import annotations

import os

import pytest
from pydantic import ValidationError

from resources.config.docker import DockerSettings, split_image_ref
from resources.config.loader import load_deployments
from resources.runtime.docker.bench import retarget_bench_args
from resources.runtime.docker.container import service_base_url
from resources.runtime.docker.image import context_hash, vllm_version_from
from resources.runtime.docker.spec import gpus_overlap, render_container_spec, weights_mount


def test_an_unpinned_image_is_refused_with_the_reason():
    for ref in ("vllm/vllm-openai:latest", "vllm/vllm-openai"):
        with pytest.raises(ValidationError, match="moves whenever a new release is pushed"):
            DockerSettings(image={"pull": ref})
    assert DockerSettings(image={"pull": "vllm/vllm-openai@sha256:" + "a" * 64}).image.pull
    assert split_image_ref("registry:5000/vllm/vllm-openai:v0.10.1.1") == (
        "registry:5000/vllm/vllm-openai",
        "v0.10.1.1",
        None,
    )


def test_a_build_argument_that_names_a_branch_or_latest_image_is_refused():
    with pytest.raises(ValidationError, match="not pinned"):
        DockerSettings(
            image={"build": {"context": "images/x", "repository": "r/x", "args": {"TRANSFORMERS_REF": "main"}}}
        )
    with pytest.raises(ValidationError, match="not pinned"):
        DockerSettings(
            image={
                "build": {"context": "images/x", "repository": "r/x", "args": {"BASE_IMAGE": "vllm/vllm-openai:latest"}}
            }
        )


def test_a_docker_deployment_without_a_docker_block_says_what_to_add():
    from resources.config.models import RuntimeConfig

    with pytest.raises(ValidationError, match="needs a 'docker' block"):
        RuntimeConfig(kind="docker")
    with pytest.raises(ValidationError, match="only applies to runtime kind docker"):
        RuntimeConfig(kind="process", docker={"image": {"pull": "vllm/vllm-openai:v0.10.1.1"}})


def test_a_hugging_face_snapshot_is_mounted_with_its_blobs():
    assert weights_mount("/hf/models--a--b/snapshots/abc") == (
        "/hf/models--a--b:/model-repo:ro",
        "/model-repo/snapshots/abc",
    )
    assert weights_mount("/data/tiny") == ("/data/tiny:/model:ro", "/model")


def test_fewer_listed_gpus_than_tensor_parallel_ranks_is_an_error():
    deployment = load_deployments()["glm5-int4-4gpu"]
    docker = deployment.runtime.docker.model_copy(update={"gpus": (0, 1)})
    deployment = deployment.model_copy(
        update={
            "spec": deployment.spec.model_copy(
                update={"runtime": deployment.runtime.model_copy(update={"docker": docker})}
            )
        }
    )
    with pytest.raises(ValueError, match="tensor_parallel_size 4 needs as many GPUs"):
        render_container_spec(deployment, "img:1", "/w", "h")


def test_a_cpu_container_asks_for_no_gpu_and_carries_no_secret_values():
    key = f"tiny-cpu-docker-{os.environ['EVAL_TEST_DOCKER_SUFFIX']}"
    spec = render_container_spec(load_deployments()[key], "img:1", "/w", "h")
    assert spec.gpus is None and spec.labels["vllm-eval.gpus"] == "none"
    assert all("KEY" not in key for key in spec.environment)


def test_gpu_claims_overlap_by_index_or_all():
    assert gpus_overlap("all", {3}) and gpus_overlap({0, 1}, {1, 2}) and not gpus_overlap({0, 1}, {2, 3})
    assert not gpus_overlap(None, "all")


def test_the_service_address_follows_the_engine_and_the_published_host():
    assert service_base_url("unix:///var/run/docker.sock", "127.0.0.1", 8000) == "http://127.0.0.1:8000"
    assert service_base_url("ssh://ops@gpu-box", "0.0.0.0", 8000) == "http://gpu-box:8000"
    assert service_base_url("tcp://10.0.0.5:2376", "10.0.0.5", 8000) == "http://10.0.0.5:8000"
    with pytest.raises(ValueError, match="not reachable from here"):
        service_base_url("ssh://gpu-box", "127.0.0.1", 8000)


def test_benchmark_arguments_are_retargeted_to_the_containers_view():
    args = [
        "--base-url",
        "http://127.0.0.1:8231",
        "--tokenizer",
        "/host/model",
        "--result-dir",
        "/host/out",
        "--result-filename",
        "a.json",
        "--seed",
        "7",
    ]
    assert retarget_bench_args(args, "http://127.0.0.1:8000", "/model", "/tmp", "b.json") == [
        "--base-url",
        "http://127.0.0.1:8000",
        "--tokenizer",
        "/model",
        "--result-dir",
        "/tmp",
        "--result-filename",
        "b.json",
        "--seed",
        "7",
    ]


def test_the_build_context_hash_covers_files_and_arguments(tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM x\n")
    first = context_hash(tmp_path, "Dockerfile", {"A": "1"})
    assert first == context_hash(tmp_path, "Dockerfile", {"A": "1"})
    assert first != context_hash(tmp_path, "Dockerfile", {"A": "2"})
    (tmp_path / "extra.txt").write_text("x")
    assert first != context_hash(tmp_path, "Dockerfile", {"A": "1"})


def test_the_vllm_version_is_read_from_a_release_tag_or_the_base_image_label():
    assert vllm_version_from("vllm/vllm-openai:v0.10.1.1", {}) == "0.10.1.1"
    assert (
        vllm_version_from("vllm-eval/glm5:ctx-abc", {"vllm-eval.base-image": "vllm/vllm-openai:v0.17.1-cu130"})
        == "0.17.1"
    )
    assert (
        vllm_version_from("vllm-eval/tiny:ctx-abc", {"vllm-eval.base-image": "vllm/vllm-openai:local-cpu-base"}) is None
    )
