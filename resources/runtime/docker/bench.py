"""``vllm bench serve`` from the service's own image, in one of two ways.

- ``exec`` (the default): ``docker exec`` in the running service container.
- ``client``: a separate run-to-completion container of the same image, started through
  dagster-docker's ``PipesDockerClient`` and joined to the service's network namespace.

Measured on the CPU build here (the tiny model, 32 prompts of 128 in / 64 out, three runs each,
alternating, on a shared 2-core machine): exec 13.5-16.2 s wall, client container 15.2-17.7 s;
the benchmark itself (vLLM's own duration) 0.8-1.3 s in both, the same within noise. Most of
the wall time is ``vllm bench serve`` importing vLLM, in either mode. ``exec`` is the default:
about 1.3 s less per scenario (no container to create, start and remove), nothing extra to
clean up after a failure, and no engine address to hand over through ``DOCKER_HOST`` (the Pipes
client only connects with ``docker.from_env()``). ``client`` is there for when the load
generator must not share the server container's CPU and memory limits.

Either way the result file is written inside the container (not a tmpfs, which ``docker cp``
cannot read) and copied out through the engine's API, so it works on a remote engine too,
where a bind mount would name the remote host's disk.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tarfile
import uuid
from pathlib import Path
from typing import Callable

from resources.runtime.values import ContainerInfo

CONTAINER_RESULT_DIR = "/tmp"


class DockerBenchError(RuntimeError):
    """The benchmark failed inside Docker; the message carries its last output lines."""


def retarget_bench_args(
    args: list[str], base_url: str, tokenizer: str, result_dir: str, result_filename: str
) -> list[str]:
    """The same benchmark, with the paths and address as seen from inside the container."""
    out = list(args)
    for flag, value in (
        ("--base-url", base_url),
        ("--tokenizer", tokenizer),
        ("--result-dir", result_dir),
        ("--result-filename", result_filename),
    ):
        if flag in out:
            out[out.index(flag) + 1] = value
    return out


def container_bench_args(args: list[str], service: ContainerInfo) -> tuple[list[str], str]:
    """(arguments, result path in the container) for a benchmark run beside the service."""
    filename = f"vllm-eval-bench-{uuid.uuid4().hex[:12]}.json"
    retargeted = retarget_bench_args(
        args, f"http://127.0.0.1:{service.port}", service.model_path, CONTAINER_RESULT_DIR, filename
    )
    return retargeted, f"{CONTAINER_RESULT_DIR}/{filename}"


class _LineSplitter:
    def __init__(self, on_line: Callable[[str], None]):
        self.on_line, self.buffer, self.tail = on_line, "", []

    def feed(self, chunk: bytes | str) -> None:
        self.buffer += chunk.decode(errors="replace") if isinstance(chunk, bytes) else chunk
        *lines, self.buffer = self.buffer.split("\n")
        for line in lines:
            self._emit(line)

    def close(self) -> None:
        if self.buffer:
            self._emit(self.buffer)
            self.buffer = ""

    def _emit(self, line: str) -> None:
        line = line.rstrip("\r")
        self.tail = (self.tail + [line])[-30:]
        self.on_line(line)

    # File-like, for dagster's pipes log forwarding.
    def writelines(self, lines) -> None:
        for line in lines:
            self.feed(line)


def copy_out(container, container_path: str, result_path: Path) -> dict:
    """One file out of a container (running or exited) through the engine's archive API."""
    stream, _ = container.get_archive(container_path)
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as archive:
        member = archive.getmembers()[0]
        data = archive.extractfile(member).read()
    result_path.parent.mkdir(parents=True, exist_ok=True)
    result_path.write_bytes(data)
    return json.loads(data)


def bench_exec(
    client,
    service: ContainerInfo,
    bench_args: list[str],
    result_path: Path,
    env: dict[str, str] | None,
    on_line: Callable[[str], None],
) -> tuple[dict, list[str]]:
    """``docker exec SERVICE vllm bench serve ...``; returns the saved result and the command run."""
    container = client.containers.get(service.name)
    args, inside = container_bench_args(bench_args, service)
    command = [*service.vllm_command, "bench", "serve", *args]
    exec_id = client.api.exec_create(container.id, command, environment=env or None, stdout=True, stderr=True)
    lines = _LineSplitter(on_line)
    for chunk in client.api.exec_start(exec_id, stream=True):
        lines.feed(chunk)
    lines.close()
    code = client.api.exec_inspect(exec_id).get("ExitCode")
    if code != 0:
        raise DockerBenchError(
            f"vllm bench serve in {container.name} exited with code {code}; last lines:\n" + "\n".join(lines.tail)
        )
    try:
        return copy_out(container, inside, result_path), command
    finally:
        client.api.exec_start(client.api.exec_create(container.id, ["rm", "-f", inside]))


@contextlib.contextmanager
def _docker_host(engine: str | None):
    # PipesDockerClient connects with docker.from_env(): point it at the deployment's engine.
    # Steps run one at a time in this project's in-process executor, so the swap is not racy.
    if not engine:
        yield
        return
    before = os.environ.get("DOCKER_HOST")
    os.environ["DOCKER_HOST"] = engine
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("DOCKER_HOST", None)
        else:
            os.environ["DOCKER_HOST"] = before


def bench_client_container(
    context,
    client,
    service: ContainerInfo,
    bench_args: list[str],
    result_path: Path,
    env: dict[str, str] | None,
    on_line: Callable[[str], None],
) -> tuple[dict, list[str]]:
    """A run-to-completion client container of the service's image, through ``PipesDockerClient``."""
    from dagster._core.pipes.utils import extract_message_or_forward_to_file
    from dagster_docker import PipesDockerClient
    from dagster_docker.pipes import PipesDockerLogsMessageReader

    lines = _LineSplitter(on_line)

    class _ToDagsterLog(PipesDockerLogsMessageReader):
        # The stock reader prints the container's output to this process's stdout; the
        # benchmark's progress belongs in the Dagster log.
        def consume_docker_logs(self, container) -> None:
            for chunk in container.logs(stdout=True, stderr=True, stream=True, follow=True):
                for line in (chunk.decode(errors="replace") if isinstance(chunk, bytes) else chunk).splitlines():
                    extract_message_or_forward_to_file(self._handler, line, lines)

    args, inside = container_bench_args(bench_args, service)
    vllm_command = service.vllm_command
    name = f"{service.name}-bench-{uuid.uuid4().hex[:8]}"
    command = [*vllm_command[1:], "bench", "serve", *args]
    try:
        with _docker_host(service.engine):
            PipesDockerClient(message_reader=_ToDagsterLog()).run(
                context=context,
                image=service.image,
                command=command,
                env={**service.environment, **(env or {})},
                container_kwargs={
                    "name": name,
                    "entrypoint": [vllm_command[0]],
                    # The server's own network namespace: its loopback port, no published port needed.
                    "network_mode": f"container:{service.name}",
                    "volumes": service.volumes,
                },
            )
        return copy_out(client.containers.get(name), inside, result_path), [vllm_command[0], *command]
    except Exception as exc:
        if isinstance(exc, DockerBenchError):
            raise
        raise DockerBenchError(
            f"vllm bench serve in client container {name} failed: {exc}; last lines:\n" + "\n".join(lines.tail)
        ) from None
    finally:
        with contextlib.suppress(Exception):
            client.containers.get(name).remove(force=True)
