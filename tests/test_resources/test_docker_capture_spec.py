"""The capture container a Docker deployment's hardware report comes from: rendered without an
engine, so what it asks of the GPU host is visible (its GPUs, no network, the host's root read-only)."""

from __future__ import annotations

import io
import tarfile

import pytest

from resources.config.loader import load_deployments
from resources.runtime.docker.capture import (
    CAPTURE_DIR,
    CaptureError,
    capture_code_archive,
    capture_container_kwargs,
    capture_image,
)

QWEN, GLM5 = "qwen3-30b-a3b-fp8-2x24gb", "glm5-int4-4gpu"


def test_the_capture_of_the_qwen_deployment_asks_for_its_two_gpus_in_its_own_pinned_image():
    qwen = load_deployments()[QWEN]
    kwargs = capture_container_kwargs(qwen, capture_image(qwen), "/srv/models")
    assert kwargs["image"] == "vllm/vllm-openai:v0.10.1.1"
    [request] = kwargs["device_requests"]
    assert request["DeviceIDs"] == ["0", "1"] and request["Capabilities"] == [["gpu"]]
    assert kwargs["volumes"]["/"] == {"bind": "/host", "mode": "ro"}
    assert kwargs["network_mode"] == "none" and kwargs["uts_mode"] == "host"
    assert kwargs["command"][:3] == ["python3", "-m", "resources.hardware.container_capture"]
    command = kwargs["command"]
    assert command[command.index("--weights-dir") + 1] == "/srv/models"
    assert command[command.index("--model-dir") + 1].endswith(
        "models--Qwen--Qwen3-30B-A3B-Instruct-2507-FP8/snapshots/UNPINNED"
    )
    assert kwargs["environment"]["PYTHONPATH"] == CAPTURE_DIR


def test_a_built_image_is_captured_in_the_release_its_dockerfile_starts_from():
    assert capture_image(load_deployments()[GLM5]) == "vllm/vllm-openai:v0.17.1-cu130"


def test_a_build_without_a_base_image_argument_must_name_a_capture_image():
    glm5 = load_deployments()[GLM5]
    docker = glm5.runtime.docker
    build = docker.image.build.model_copy(update={"args": {"TRANSFORMERS_REF": "UNPINNED"}})
    docker = docker.model_copy(update={"image": docker.image.model_copy(update={"build": build})})
    glm5 = glm5.model_copy(
        update={"spec": glm5.spec.model_copy(update={"runtime": glm5.runtime.model_copy(update={"docker": docker})})}
    )
    with pytest.raises(CaptureError, match="set runtime.docker.capture_image"):
        capture_image(glm5)


def test_a_replayed_recording_is_mounted_read_only_and_answered_from():
    qwen = load_deployments()[QWEN]
    kwargs = capture_container_kwargs(qwen, "img:1", "/srv/models", replay_file="/tmp/rec.json")
    assert kwargs["volumes"]["/tmp/rec.json"]["mode"] == "ro"
    assert kwargs["command"][-2] == "--replay"


def test_the_capture_code_is_the_hardware_modules_and_nvidia_ml_py_nothing_else():
    names = tarfile.open(fileobj=io.BytesIO(capture_code_archive())).getnames()
    prefix = CAPTURE_DIR.lstrip("/")
    assert f"{prefix}/pynvml.py" in names and f"{prefix}/resources/hardware/container_capture.py" in names
    assert not [n for n in names if "runtime" in n or "dagster" in n]


def test_the_code_sent_into_the_capture_container_imports_on_its_own(tmp_path):
    """The capture runs with only what the archive holds on its path: nothing else of the project."""
    import subprocess
    import sys

    from resources.runtime.docker.capture import CAPTURE_DIR, capture_code_archive

    with tarfile.open(fileobj=io.BytesIO(capture_code_archive())) as tar:
        tar.extractall(tmp_path)
    root = tmp_path / CAPTURE_DIR.lstrip("/")
    imported = subprocess.run(
        [
            sys.executable,
            "-I",
            "-c",
            "import sys; sys.path.insert(0, sys.argv[1]); import resources.hardware.container_capture",
            str(root),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert imported.returncode == 0, imported.stderr
