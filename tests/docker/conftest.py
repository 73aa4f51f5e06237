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


@pytest.fixture(scope="session")
def gpu_host_engine(base_image):
    """A client of the second engine (tests/docker/start_gpu_host_engine.sh, which .ci/run calls)."""
    from resources.runtime.docker.engine import connect, engine_available
    from tests.docker.gpu_host import ENGINE, START_SCRIPT, TLS, TLS_DIR

    _require(Path(TLS.ca_cert).is_file(), f"no GPU host engine: no certificates in {TLS_DIR}; run "
             f"{START_SCRIPT} (as root: it makes a network namespace, as .ci/run does)")
    available, why = engine_available(ENGINE, tls=TLS)
    _require(available, f"no GPU host engine: {why}; run {START_SCRIPT} (as .ci/run does)")
    client = connect(ENGINE, tls=TLS)
    try:
        client.images.get(base_image)
    except Exception:
        _require(False, f"the GPU host engine lacks {base_image}: run {START_SCRIPT}, which copies it there")
    yield client
    client.close()


@pytest.fixture(scope="session")
def ssh_host_engine(base_image):
    """A client of the engine reached over ssh:// (tests/docker/start_ssh_host_engine.sh, which .ci/run calls)."""
    from resources.runtime.docker.engine import connect, engine_available
    from tests.docker.ssh_host import ENGINE, START_SCRIPT

    available, why = engine_available(ENGINE)
    _require(available, f"no ssh host engine: {why}; run {START_SCRIPT} (as root: it makes a network namespace "
             "and an OpenSSH server, as .ci/run does)")
    client = connect(ENGINE)
    try:
        client.images.get(base_image)
    except Exception:
        _require(False, f"the ssh host engine lacks {base_image}: run {START_SCRIPT}, which copies it there")
    yield client
    client.close()
