"""Fixtures for tests that need a real Docker Engine (marked ``docker``).

A missing engine or base image fails these tests under CI and skips them elsewhere, saying why
(tests/prerequisites.py): CI starts dockerd and makes the base image before the tests run. Only
an image the engine does not have counts as missing; any other error of the engine is the
test's failure.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.prerequisites import require

BASE_IMAGE = "vllm/vllm-openai:local-cpu-base"
MAKE_BASE_IMAGE = Path(__file__).resolve().parent / "make_base_image.sh"


def _has_image(client, ref: str) -> bool:
    """Whether the engine has ``ref``; an engine that fails to answer raises, never "missing"."""
    import docker.errors

    try:
        client.images.get(ref)
    except docker.errors.ImageNotFound:
        return False
    return True


@pytest.fixture(scope="session")
def docker_client():
    from resources.runtime.docker.engine import connect, engine_available

    available, why = engine_available()
    require(
        available, f"no Docker Engine: {why} (`make docker-base` starts one and makes the base image, as .ci/run does)"
    )
    client = connect()
    yield client
    client.close()


@pytest.fixture(scope="session")
def base_image(docker_client) -> str:
    """The locally made ``vllm/vllm-openai`` base (made here if missing and mmdebstrap exists)."""
    if not _has_image(docker_client, BASE_IMAGE):
        made = subprocess.run(["bash", str(MAKE_BASE_IMAGE), BASE_IMAGE], capture_output=True, text=True)
        require(
            made.returncode == 0,
            f"base image {BASE_IMAGE} missing and could not be made: {(made.stderr or made.stdout).strip()[-500:]}",
        )
    return BASE_IMAGE


@pytest.fixture(scope="session")
def gpu_host_engine(base_image):
    """A client of the second engine (tests/docker/start_gpu_host_engine.sh, which .ci/run calls)."""
    from resources.runtime.docker.engine import connect, engine_available
    from tests.docker.gpu_host import ENGINE, START_SCRIPT, TLS, TLS_DIR

    require(
        Path(TLS.ca_cert).is_file(),
        f"no GPU host engine: no certificates in {TLS_DIR}; run "
        f"{START_SCRIPT} (as root: it makes a network namespace, as .ci/run does)",
    )
    available, why = engine_available(ENGINE, tls=TLS)
    require(available, f"no GPU host engine: {why}; run {START_SCRIPT} (as .ci/run does)")
    client = connect(ENGINE, tls=TLS)
    require(
        _has_image(client, base_image),
        f"the GPU host engine lacks {base_image}: run {START_SCRIPT}, which copies it there",
    )
    yield client
    client.close()


@pytest.fixture(scope="session")
def ssh_host_engine(base_image):
    """A client of the engine reached over ssh:// (tests/docker/start_ssh_host_engine.sh, which .ci/run calls)."""
    from resources.runtime.docker.engine import connect, engine_available
    from tests.docker.ssh_host import ENGINE, START_SCRIPT

    available, why = engine_available(ENGINE)
    require(
        available,
        f"no ssh host engine: {why}; run {START_SCRIPT} (as root: it makes a network namespace "
        "and an OpenSSH server, as .ci/run does)",
    )
    client = connect(ENGINE)
    require(
        _has_image(client, base_image),
        f"the ssh host engine lacks {base_image}: run {START_SCRIPT}, which copies it there",
    )
    yield client
    client.close()
