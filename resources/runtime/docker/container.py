"""The ``docker`` runtime: vLLM in a container that outlives the Dagster step.

State lives in the engine, not in Dagster: the container's name comes from the partition and
its labels carry the config hash, so a later step or run finds it, reuses it when it is healthy
with the same hash, or replaces it. A failed start is diagnosed and the container removed:
nothing is left behind holding the GPUs or the port.
"""

from __future__ import annotations

import os
import time
import urllib.parse
from typing import Callable

from resources.runtime.docker.spec import (
    GPUS_LABEL,
    HASH_LABEL,
    PARTITION_LABEL,
    ContainerSpec,
    container_name,
    gpus_from_label,
    gpus_overlap,
    sdk_create_kwargs,
)
from resources.runtime.startup_wait import ServiceStartError, Stopped, wait_until_healthy
from resources.serving.health import is_healthy
from resources.serving.startup_log import StartupReading

POLL_S = 0.5


class ContainerStartError(ServiceStartError):
    """The container did not become healthy; the message carries the diagnosis and the log's tail."""


class GpusTaken(RuntimeError):
    """Another service holds GPUs this deployment needs."""


def service_base_url(engine_url: str, host_ip: str, port: int) -> str:
    """Where this machine reaches the published port."""
    remote = not engine_url.startswith("unix://")
    loopback = host_ip.startswith("127.") or host_ip in ("localhost", "::1")
    if not remote:
        return f"http://{'127.0.0.1' if host_ip in ('0.0.0.0', '') else host_ip}:{port}"
    if loopback:
        raise ValueError(
            f"the engine at {engine_url} is on another host, where a port published on {host_ip} is not "
            "reachable from here: set runtime.host to that host's address on a network you trust "
            "(or 0.0.0.0), or run the pipeline on the GPU host"
        )
    engine_host = urllib.parse.urlparse(engine_url).hostname
    return f"http://{engine_host if host_ip == '0.0.0.0' else host_ip}:{port}"


def _get(client, name: str):
    import docker.errors

    try:
        return client.containers.get(name)
    except docker.errors.NotFound:
        return None


def find_reusable(client, partition: str, config_hash: str, base_url: str):
    """The partition's container if it runs, carries the same config hash and answers /health."""
    container = _get(client, container_name(partition))
    if (
        container is not None
        and container.status == "running"
        and container.labels.get(HASH_LABEL) == config_hash
        and is_healthy(base_url)
    ):
        return container
    return None


def container_gpus(attrs: dict) -> str | set[int] | None:
    """The GPUs a container asked for, from its device requests (any container, ours or not)."""
    claimed: set[int] = set()
    for request in (attrs.get("HostConfig") or {}).get("DeviceRequests") or []:
        if ["gpu"] not in (request.get("Capabilities") or []) and request.get("Driver") not in ("nvidia",):
            continue
        if request.get("Count") == -1:
            return "all"
        ids = request.get("DeviceIDs") or []
        if not ids and request.get("Count"):
            return "all"  # "--gpus 2" takes the first two; without knowing which, assume any
        claimed |= {int(i) for i in ids if str(i).isdigit()}
    if claimed:
        return claimed
    return gpus_from_label((attrs.get("Config") or {}).get("Labels", {}).get(GPUS_LABEL))


def foreign_gpu_holders(client, partition: str, gpus) -> list[str]:
    """Running containers other than this partition's that hold any of ``gpus``."""
    if gpus is None:
        return []
    ours = container_name(partition)
    holders = []
    for container in client.containers.list():
        if container.name == ours:
            continue
        theirs = container_gpus(container.attrs)
        if gpus_overlap(gpus if gpus == "all" else set(gpus), theirs):
            owner = container.labels.get(PARTITION_LABEL)
            holders.append(
                f"{container.name} ({'deployment ' + owner if owner else 'not started by this pipeline'}; "
                f"GPUs {theirs if theirs == 'all' else sorted(theirs)})"
            )
    return holders


def left_behind(client, partition: str) -> str | None:
    """The partition's container that a reuse check turned down, described for the run's log
    (its id and state: e.g. exited after its engine restarted), or None when there is none."""
    container = _get(client, container_name(partition))
    if container is None:
        return None
    return f"{container.name} ({container.short_id}, {container.status})"


def remove_container(client, partition: str) -> bool:
    """Stops and removes the partition's container. True if there was one."""
    container = _get(client, container_name(partition))
    if container is None:
        return False
    container.remove(force=True)  # with init, SIGKILL after SIGTERM is immediate: vLLM has nothing to flush
    return True


def start_container(
    client,
    spec: ContainerSpec,
    partition: str,
    base_url: str,
    timeout_s: float,
    on_progress: Callable[[str], None] = lambda message: None,
) -> tuple[StartupReading, float]:
    """Creates and starts the container, follows its log through the start-up phases and waits
    for /health. Returns its start-up reading and the seconds to healthy."""
    import docker.errors

    holders = foreign_gpu_holders(client, partition, spec.gpus)
    if holders:
        raise GpusTaken(
            f"refusing to start '{partition}': GPUs it needs are held by {'; '.join(holders)}. "
            "Only one service may hold a GPU; stop that one first, or give this deployment other runtime.docker.gpus"
        )
    remove_container(client, partition)
    secrets = {var: os.environ.get(source, "") for var, source in spec.secret_env.items()}
    missing = [source for var, source in spec.secret_env.items() if not secrets[var]]
    if missing:
        raise ContainerStartError(f"environment variable(s) {', '.join(missing)} named in the config are not set")
    started = time.monotonic()
    container = client.containers.create(**sdk_create_kwargs(spec, secrets))
    on_progress(f"created container {spec.name} ({container.short_id}) from {spec.image}")
    try:
        container.start()
    except docker.errors.APIError:
        pass  # the reason is in State.Error, read below with the log

    def stopped() -> Stopped | None:
        container.reload()
        state = container.attrs.get("State") or {}
        restarted = container.attrs.get("RestartCount", 0) > 0 or state.get("Restarting")
        if state.get("Running") and not restarted:
            return None
        return Stopped(_what_happened(state, restarted), state)

    try:
        reading, elapsed = wait_until_healthy(
            base_url=base_url,
            started=started,
            timeout_s=timeout_s,
            read_log=lambda: container.logs().decode(errors="replace"),
            stopped=stopped,
            who=f"vLLM container {spec.name} for '{partition}'",
            after="; it has been removed",
            log_source=f"docker logs {spec.name}",
            on_progress=on_progress,
            poll_s=POLL_S,
            error=ContainerStartError,
        )
    except BaseException:
        container.remove(force=True)
        raise
    return reading, elapsed


def _what_happened(state: dict, restarted: bool) -> str:
    if state.get("Status") == "created":
        return "could not be started"
    if restarted:
        return f"exited and was restarted by its restart policy (exit code {state.get('ExitCode')})"
    return f"exited with code {state.get('ExitCode')}"
