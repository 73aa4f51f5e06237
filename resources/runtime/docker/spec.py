"""Renders a deployment into the vLLM container it runs in (pure).

One ``ContainerSpec`` feeds both the docker SDK call that starts the container and the
``docker run`` command line that ``python -m pipelines plan`` prints, so the plan shows exactly
what runs. Secrets are carried by name only: the SDK call reads their values from the
environment at start time, the command line shows ``"$NAME"``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePosixPath

from resources.config.docker import DockerSettings
from resources.config.models import Deployment
from resources.runtime.compile_cache import CACHE_ENV, CONTAINER_CACHE_ROOT, cache_env, cache_slot, volume_name
from resources.serving.vllm_args import render_serve_args

LABEL_PREFIX = "vllm-eval."
MANAGED_LABEL = f"{LABEL_PREFIX}managed"
PARTITION_LABEL = f"{LABEL_PREFIX}partition"
HASH_LABEL = f"{LABEL_PREFIX}config-hash"
GPUS_LABEL = f"{LABEL_PREFIX}gpus"
# vLLM reads its --api-key from this variable, so the key never appears in the command line.
API_KEY_VAR = "VLLM_API_KEY"


@dataclass(frozen=True)
class ContainerSpec:
    name: str
    image: str
    entrypoint: list[str]
    command: list[str]
    labels: dict[str, str]
    environment: dict[str, str]
    secret_env: dict[str, str] = field(default_factory=dict)  # container variable -> host variable
    port: int = 8000
    host_ip: str = "127.0.0.1"
    volumes: list[str] = field(default_factory=list)  # HOST:CONTAINER:MODE
    shm_size: str | None = None
    ipc_mode: str | None = None  # None: a private IPC namespace
    restart: str = "no"
    gpus: str | tuple[int, ...] | None = None  # None: no GPU request (CPU build)
    serve_args: list[str] = field(default_factory=list)
    model_path: str = "/model"


def container_name(partition: str) -> str:
    return f"vllm-eval-{partition}"


def docker_settings(deployment: Deployment) -> DockerSettings:
    if deployment.runtime.docker is None:
        raise ValueError(f"deployment '{deployment.key}' has no runtime.docker block")
    return deployment.runtime.docker


def weights_mount(host_path: str, volume: str | None = None) -> tuple[str, str]:
    """(mount, model path in the container). ``volume``: the named volume on the serving host that
    model_weights placed the weights in, mounted read-only at /model. Otherwise a bind mount of
    ``host_path``: a Hugging Face snapshot folder holds links into its repository's ``blobs/``, so
    the whole repository folder is mounted, not the snapshot."""
    if volume:
        return f"{volume}:/model:ro", "/model"
    path = PurePosixPath(host_path)
    if path.parent.name == "snapshots":
        return f"{path.parent.parent}:/model-repo:ro", f"/model-repo/snapshots/{path.name}"
    return f"{path}:/model:ro", "/model"


def _with_host(args: list[str], host: str) -> list[str]:
    args = list(args)
    if "--host" in args:
        args[args.index("--host") + 1] = host
    return args


def render_container_spec(
    deployment: Deployment, image: str, weights_path: str, config_hash: str, weights_volume: str | None = None
) -> ContainerSpec:
    settings = docker_settings(deployment)
    runtime = deployment.runtime
    weights_mounted, model_path = weights_mount(settings.weights_path or weights_path, weights_volume)
    # Inside its own network namespace vLLM listens on every interface; what is reachable from
    # outside is decided by the published port's host address (loopback unless configured).
    serve_args = _with_host(render_serve_args(deployment, model_path), "0.0.0.0")
    gpus = None if deployment.runtime.device == "cpu" else settings.gpus
    if isinstance(gpus, tuple) and len(gpus) < deployment.params.tensor_parallel_size:
        raise ValueError(
            f"deployment '{deployment.key}': tensor_parallel_size {deployment.params.tensor_parallel_size} "
            f"needs as many GPUs, but runtime.docker.gpus lists {len(gpus)}"
        )
    labels = {
        **settings.labels,
        MANAGED_LABEL: "true",
        PARTITION_LABEL: deployment.key,
        HASH_LABEL: config_hash,
        GPUS_LABEL: _gpus_label(gpus),
    }
    # The weights are mounted, so nothing needs the hub at start-up; offline mode makes a
    # missing file an immediate error instead of a download attempt from the GPU host.
    environment = {"HF_HUB_OFFLINE": "1", **runtime.env}
    # vLLM's compile cache on a named volume of the serving host, kept across containers and keyed
    # by the config hash (see compile_cache); a cache the config points elsewhere is left alone.
    cache_volume = []
    if CACHE_ENV not in environment:
        environment |= cache_env(CONTAINER_CACHE_ROOT, environment)
        cache_volume = [f"{volume_name(*cache_slot(deployment, config_hash))}:{CONTAINER_CACHE_ROOT}"]
    secret_env = {API_KEY_VAR: runtime.api_key_env} if runtime.api_key_env else {}
    return ContainerSpec(
        name=container_name(deployment.service_name),
        image=image,
        entrypoint=[settings.vllm_command[0]],
        command=[*settings.vllm_command[1:], "serve", *serve_args],
        labels=labels,
        environment=environment,
        secret_env=secret_env,
        port=runtime.port,
        host_ip=runtime.host,
        volumes=[weights_mounted, *cache_volume, *settings.volumes],
        # With host IPC Docker ignores the size (the host's /dev/shm is used); passed anyway, as
        # the recipe does, so switching to a private namespace keeps a sized /dev/shm.
        shm_size=settings.shm_size,
        ipc_mode="host" if settings.ipc_mode == "host" else None,
        restart=settings.restart,
        gpus=gpus,
        serve_args=serve_args,
        model_path=model_path,
    )


def _gpus_label(gpus) -> str:
    if gpus is None:
        return "none"
    return "all" if gpus == "all" else ",".join(str(g) for g in gpus)


def gpus_from_label(value: str | None) -> str | set[int] | None:
    if not value or value == "none":
        return None
    return "all" if value == "all" else {int(g) for g in value.split(",")}


def gpus_overlap(ours, theirs) -> bool:
    """Whether two GPU claims ("all", a set of indices, or None for none) share a GPU."""
    if ours is None or theirs is None:
        return False
    if ours == "all" or theirs == "all":
        return True
    return bool(set(ours) & set(theirs))


def device_requests(gpus) -> list:
    from docker.types import DeviceRequest

    if gpus is None:
        return []
    if gpus == "all":
        return [DeviceRequest(count=-1, capabilities=[["gpu"]])]
    return [DeviceRequest(device_ids=[str(g) for g in gpus], capabilities=[["gpu"]])]


def sdk_create_kwargs(spec: ContainerSpec, secret_values: dict[str, str]) -> dict:
    """Keyword arguments for ``client.containers.create``; secret values only here, at start time."""
    kwargs = {
        "image": spec.image,
        "name": spec.name,
        "entrypoint": spec.entrypoint,
        "command": spec.command,
        "labels": spec.labels,
        "environment": {**spec.environment, **secret_values},
        "ports": {f"{spec.port}/tcp": (spec.host_ip, spec.port)},
        "volumes": spec.volumes,
        "restart_policy": {"Name": spec.restart} if spec.restart != "no" else None,
        "device_requests": device_requests(spec.gpus),
        # An init process forwards SIGTERM to vLLM, so a stop takes a second, not the 10 s timeout.
        "init": True,
        "detach": True,
    }
    if spec.shm_size:
        kwargs["shm_size"] = spec.shm_size
    if spec.ipc_mode:
        kwargs["ipc_mode"] = spec.ipc_mode
    return {k: v for k, v in kwargs.items() if v is not None}


def gpus_flag(gpus) -> list[str]:
    if gpus is None:
        return []
    # The CLI's device list needs the inner quotes: --gpus '"device=0,1"'.
    return ["--gpus", "all" if gpus == "all" else f'"device={",".join(str(g) for g in gpus)}"']


def docker_run_argv(spec: ContainerSpec) -> list[str]:
    """The ``docker run`` equivalent of ``sdk_create_kwargs`` + start, secrets as ``"$NAME"``."""
    argv = ["docker", "run", "-d", "--name", spec.name, "--init"]
    for key, value in sorted(spec.labels.items()):
        argv += ["--label", f"{key}={value}"]
    argv += gpus_flag(spec.gpus)
    if spec.shm_size:
        argv += ["--shm-size", spec.shm_size]
    if spec.ipc_mode:
        argv += ["--ipc", spec.ipc_mode]
    if spec.restart != "no":
        argv += ["--restart", spec.restart]
    argv += ["-p", f"{spec.host_ip}:{spec.port}:{spec.port}"]
    for volume in spec.volumes:
        argv += ["-v", volume]
    for key, value in sorted(spec.environment.items()):
        argv += ["-e", f"{key}={value}"]
    for key, source in sorted(spec.secret_env.items()):
        argv += ["-e", f"{key}=${source}"]
    argv += ["--entrypoint", spec.entrypoint[0], spec.image, *spec.command]
    return argv
