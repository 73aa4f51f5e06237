"""An engine reached over ssh:// (tests/docker/start_ssh_host_engine.sh): the machine's own ssh
client, its key and known_hosts from ~/.ssh/config, and the far side's `docker system dial-stdio`."""

from __future__ import annotations

import pytest

from tests.docker.conftest import BASE_IMAGE
from tests.docker.ssh_host import HOST_NAME

pytestmark = pytest.mark.docker


def test_the_ssh_engine_is_the_other_host_and_answers_many_short_execs_in_a_row(ssh_host_engine, docker_client):
    assert ssh_host_engine.info()["Name"] == HOST_NAME != docker_client.info()["Name"]
    container = ssh_host_engine.containers.run(
        BASE_IMAGE, ["sleep", "120"], entrypoint=[], detach=True, labels={"vllm-eval.test": "ssh-engine"}
    )
    try:
        # A non-streamed exec ends its stream from the engine's side, so ssh has often exited by the
        # time the connection is closed: each must still return its output, never a broken pipe.
        outputs = [
            ssh_host_engine.api.exec_start(ssh_host_engine.api.exec_create(container.id, ["echo", str(n)]))
            for n in range(20)
        ]
        assert outputs == [f"{n}\n".encode() for n in range(20)]
    finally:
        container.remove(force=True)
