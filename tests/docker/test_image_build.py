"""Getting the vLLM image on a real Docker Engine: a pinned pull, a hashed build, no rebuild."""

from __future__ import annotations

import shutil
import time
import uuid
from pathlib import Path

import pytest

from resources.config.docker import BuildSpec
from resources.runtime.docker.image import ImageError, ensure_built, ensure_pulled

pytestmark = pytest.mark.docker

CPU_IMAGE = Path(__file__).resolve().parent / "cpu-image"


@pytest.fixture
def build_context(tmp_path, base_image) -> tuple[Path, BuildSpec]:
    shutil.copytree(CPU_IMAGE, tmp_path / "image")
    # A fresh marker makes a fresh context hash: the first build below is really cold.
    spec = BuildSpec(
        context="image",
        repository="vllm-eval-test/build-check",
        args={"BASE_IMAGE": base_image, "BUILD_MARKER": uuid.uuid4().hex},
    )
    return tmp_path, spec


def test_a_dockerfile_from_a_vllm_image_is_built_then_skipped_while_unchanged(docker_client, build_context, capsys):
    root, spec = build_context
    lines: list[str] = []
    started = time.monotonic()
    first = ensure_built(docker_client, spec, root, lines.append)
    cold_s = time.monotonic() - started
    started = time.monotonic()
    second = ensure_built(docker_client, spec, root, lines.append)
    cached_s = time.monotonic() - started
    try:
        assert first.action == "built" and second.action == "unchanged"
        assert second.image_id == first.image_id and first.ref == second.ref
        assert first.ref.startswith("vllm-eval-test/build-check:ctx-")
        assert any("FROM" in line or "Step 1/" in line for line in lines), "the build log is streamed"
        assert first.labels["vllm-eval.context-hash"] == first.context_hash
        assert first.labels["vllm-eval.base-image"] == spec.args["BASE_IMAGE"]
        assert first.digest == first.image_id, "a local build has no registry digest: its image id is its identity"
        with capsys.disabled():
            print(f"\n[figures] image build: cold {cold_s:.2f} s, unchanged {cached_s:.2f} s")
    finally:
        docker_client.images.remove(first.ref, force=True)


def test_changing_a_build_argument_builds_a_new_image(docker_client, build_context):
    root, spec = build_context
    first = ensure_built(docker_client, spec, root, lambda line: None)
    changed = spec.model_copy(update={"args": {**spec.args, "BUILD_MARKER": spec.args["BUILD_MARKER"] + "-2"}})
    second = ensure_built(docker_client, changed, root, lambda line: None)
    try:
        assert second.action == "built" and second.ref != first.ref and second.image_id != first.image_id
    finally:
        for ref in (first.ref, second.ref):
            docker_client.images.remove(ref, force=True)


def test_a_build_whose_base_image_is_missing_says_so(docker_client, tmp_path, base_image):
    shutil.copytree(CPU_IMAGE, tmp_path / "image")
    spec = BuildSpec(
        context="image",
        repository="vllm-eval-test/missing-base",
        args={"BASE_IMAGE": "vllm/vllm-openai:v0.0.0-not-here", "BUILD_MARKER": "x"},
    )
    with pytest.raises(ImageError, match="building vllm-eval-test/missing-base:ctx-.* failed"):
        ensure_built(docker_client, spec, tmp_path, lambda line: None)


def test_a_pinned_image_the_engine_has_is_used_as_is_and_latest_is_refused(docker_client, base_image):
    present = ensure_pulled(docker_client, base_image, lambda line: None)
    assert present.action == "present" and present.image_id.startswith("sha256:")
    with pytest.raises(ImageError, match="not pinned"):
        ensure_pulled(docker_client, "vllm/vllm-openai:latest")
    with pytest.raises(ImageError, match="not pinned"):
        ensure_pulled(docker_client, "vllm/vllm-openai")


def test_a_pinned_image_that_cannot_be_pulled_names_the_image_and_what_to_check(docker_client):
    with pytest.raises(ImageError, match=r"pulling vllm/vllm-openai:v0\.0\.0-not-here failed"):
        ensure_pulled(docker_client, "vllm/vllm-openai:v0.0.0-not-here", lambda line: None)


def test_a_dockerfile_whose_step_fails_shows_the_build_logs_tail(docker_client, tmp_path, base_image):
    context = tmp_path / "image"
    context.mkdir()
    (context / "Dockerfile").write_text(
        "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nRUN echo 'installing a transformers that does not exist' && exit 3\n"
    )
    spec = BuildSpec(context="image", repository="vllm-eval-test/failing-step", args={"BASE_IMAGE": base_image})
    with pytest.raises(ImageError) as error:
        ensure_built(docker_client, spec, tmp_path, lambda line: None)
    message = str(error.value)
    assert "failed; last build output" in message
    assert "installing a transformers that does not exist" in message and "3" in message
