"""A Docker Engine that stops answering half-way through a run fails that run, naming the engine
and its host, and the next run on the returned engine replaces the container left behind.

The orchestrator reaches the real local engine through a socket of its own: a plain byte
forwarder to /var/run/docker.sock, standing in for the network path to a GPU host. Closing it is
the engine disappearing from the orchestrator's side (the container goes on running, as it does
on a host that dropped off the network); opening it again is the host coming back.
"""

from __future__ import annotations

import os
import socket
import threading
import time

import pytest

pytestmark = [pytest.mark.docker, pytest.mark.vllm]

SUFFIX = os.environ["EVAL_TEST_DOCKER_SUFFIX"]
PARTITION = f"tiny-cpu-docker-{SUFFIX}"
ENGINE_SOCKET = "/var/run/docker.sock"


class SocketPath:
    """Forwards every connection on ``path`` to the engine's socket until ``close()``."""

    def __init__(self, path: str):
        self.path, self.connections = path, []
        self.listener = socket.socket(socket.AF_UNIX)
        self.listener.bind(path)
        self.listener.listen(16)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            engine = socket.socket(socket.AF_UNIX)
            engine.connect(ENGINE_SOCKET)
            self.connections += [client, engine]
            for a, b in ((client, engine), (engine, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source, target):
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, target):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self):
        self.listener.close()
        for connection in self.connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        os.unlink(self.path)


def test_an_engine_lost_while_the_server_starts_fails_the_run_naming_it_and_the_next_run_replaces_the_container(
    docker_client, base_image, tmp_path
):
    from resources.config.loader import load_deployments
    from resources.runtime import runtime_for
    from resources.runtime.docker.container import remove_container
    from resources.runtime.docker.engine import EngineUnavailable
    from resources.weights.fetch import fetch_weights

    path = str(tmp_path / "engine.sock")
    deployment = load_deployments()[PARTITION]
    docker = deployment.runtime.docker.model_copy(update={"engine": f"unix://{path}"})
    deployment = deployment.model_copy(
        update={
            "spec": deployment.spec.model_copy(
                update={"runtime": deployment.runtime.model_copy(update={"docker": docker})}
            )
        }
    )
    runtime = runtime_for(deployment)
    weights = fetch_weights(deployment.model_name, deployment.model)
    remove_container(docker_client, PARTITION)
    forwarder = SocketPath(path)
    try:
        image = runtime.prepare_image()
        created = []

        def lose_the_engine_once_created(message: str) -> None:
            if message.startswith("created container") and not created:
                created.append(message)
                threading.Timer(3.0, forwarder.close).start()  # while vLLM starts

        with pytest.raises(EngineUnavailable) as lost:
            runtime.ensure_service(image, str(weights.path), "lost-1", on_progress=lose_the_engine_once_created)
        message = str(lost.value)
        print(f"\n--- the run's error\n{message}")
        assert (
            f"the Docker Engine at unix://{path} (GPU host {socket.gethostname()}) stopped answering while "
            "starting or checking the vLLM container" in message
        )
        assert "runs on other hosts go on" in message
        [left] = docker_client.containers.list(all=True, filters={"label": f"vllm-eval.partition={PARTITION}"})

        # The host comes back; its dockerd restarted, which stops the containers it had (no live-restore).
        left.stop(timeout=1)
        forwarder = SocketPath(path)
        started = time.monotonic()
        service = runtime.ensure_service(image, str(weights.path), "lost-1")
        print(f"--- the next run: a new container, healthy after {time.monotonic() - started:.1f} s")
        [now] = docker_client.containers.list(all=True, filters={"label": f"vllm-eval.partition={PARTITION}"})
        assert service.reused is False and now.id != left.id and now.status == "running"
    finally:
        remove_container(docker_client, PARTITION)
        if os.path.exists(path):
            forwarder.close()
