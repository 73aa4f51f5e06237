"""Fixtures for tests that need a real Docker Engine.

Without an engine these tests skip and say why; under CI (``CI=true``) a missing engine is a
failure, never a skip: CI starts dockerd and makes the base image before the tests run.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

BASE_IMAGE = "vllm/vllm-openai:local-cpu-base"
MAKE_BASE_IMAGE = Path(__file__).resolve().parent / "make_base_image.sh"


def _require(condition: bool, reason: str) -> None:
    if condition:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI must provide this: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def docker_client():
    from resources.runtime.docker.engine import connect, engine_available

    available, why = engine_available()
    _require(available, f"no Docker Engine: {why} (`make docker-base` starts one and makes the base image, as .ci/run does)")
    client = connect()
    yield client
    client.close()


@pytest.fixture(scope="session")
def base_image(docker_client) -> str:
    """The locally made ``vllm/vllm-openai`` base (made here if missing and mmdebstrap exists)."""
    import docker.errors

    try:
        docker_client.images.get(BASE_IMAGE)
    except docker.errors.ImageNotFound:
        made = subprocess.run(["bash", str(MAKE_BASE_IMAGE), BASE_IMAGE], capture_output=True, text=True)
        _require(made.returncode == 0, f"base image {BASE_IMAGE} missing and could not be made: "
                 f"{(made.stderr or made.stdout).strip()[-500:]}")
    return BASE_IMAGE
