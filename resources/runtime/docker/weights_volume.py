"""Weights in a named volume on the serving host: which volume, and the containers that fill and check it (pure).

A remote engine's host cannot bind-mount a folder of the orchestrator, and the orchestrator need
not have room for every model. So the weights go into a named volume on the engine, through
short-lived containers of the deployment's own image (already on that engine: no registry):
generated and local weights are streamed in from here; hub weights are downloaded there. Either
way the content hash is computed there, by ``resources/weights/content_hash.py`` copied into the
container, and the service container mounts the volume read-only.

The volume's name carries the model's name and a digest of its identity (content hash, or hub
revision), so two revisions never share a volume and the next run finds the same one.
"""

from __future__ import annotations

import hashlib
import io
import re
import tarfile
import time
from pathlib import Path

from resources.config.models import Deployment
from resources.runtime.docker.engine import engine_address
from resources.runtime.docker.spec import LABEL_PREFIX, docker_settings

VOLUME_PREFIX = "vllm-eval-weights-"
PLACE_DIR = "/weights"  # where the placing containers mount the volume
CODE_DIR = "/opt/vllm-eval-weights"  # their PYTHONPATH
TOKEN_FILE = f"{CODE_DIR}/hub-token"
MODEL_LABEL = f"{LABEL_PREFIX}weights-model"
IDENTITY_LABEL = f"{LABEL_PREFIX}weights-identity"
_PROJECT = Path(__file__).resolve().parents[3]
_CODE = (
    "resources/__init__.py",
    "resources/weights/__init__.py",
    "resources/weights/content_hash.py",
    "resources/weights/host_download.py",
)


def uses_weights_volume(deployment: Deployment) -> bool:
    """``runtime.docker.weights_volume`` when set; otherwise a volume exactly when the engine is on
    another host and no ``weights_path`` says the weights are there already."""
    settings = docker_settings(deployment)
    if settings.weights_volume is None:
        return settings.weights_path is None and not engine_address(settings.engine).is_local
    return settings.weights_volume is not False


def weights_volume_name(deployment: Deployment, identity: str) -> str:
    """The configured name, else ``vllm-eval-weights-<model>-<digest of the identity>``."""
    configured = docker_settings(deployment).weights_volume
    if isinstance(configured, str):
        return configured
    model = re.sub(r"[^a-zA-Z0-9_.-]", "-", deployment.model_name)
    return f"{VOLUME_PREFIX}{model}-{hashlib.sha256(identity.encode()).hexdigest()[:16]}"


def volume_labels(deployment: Deployment, identity: str) -> dict[str, str]:
    return {f"{LABEL_PREFIX}managed": "true", MODEL_LABEL: deployment.model_name, IDENTITY_LABEL: identity}


def hub_identity(deployment: Deployment) -> str:
    """What a hub model's volume is keyed by before anything is downloaded: repo and pinned revision."""
    model = deployment.model
    return f"huggingface:{model.repo}@{model.revision}"


def _container(
    deployment: Deployment, image: str, purpose: str, command: list[str], volume: str, read_only: bool
) -> dict:
    settings = docker_settings(deployment)
    volumes = {volume: {"bind": PLACE_DIR, "mode": "ro" if read_only else "rw"}}
    for mount in settings.volumes:  # e.g. an interpreter the image runs from a bind mount
        host, container, *mode = mount.split(":")
        volumes[host] = {"bind": container, "mode": mode[0] if mode else "rw"}
    return {
        "image": image,
        "entrypoint": [],
        "command": [settings.python, *command],
        "environment": {"PYTHONPATH": CODE_DIR, "PYTHONDONTWRITEBYTECODE": "1"},
        "volumes": volumes,
        "network_mode": "none",
        "labels": {f"{LABEL_PREFIX}weights-{purpose}": deployment.key},
        "name": f"vllm-eval-weights-{purpose}-{deployment.key}-{int(time.time() * 1000) % 10**9}",
    }


def hash_container_kwargs(deployment: Deployment, image: str, volume: str, read_only: bool = True) -> dict:
    """``client.containers.create`` arguments of a container that hashes the volume's files and
    prints the result; no network. ``read_only=False`` for the container the weights are copied into."""
    return _container(
        deployment,
        image,
        "check" if read_only else "copy",
        ["-m", "resources.weights.content_hash", PLACE_DIR],
        volume,
        read_only,
    )


def hub_download_kwargs(deployment: Deployment, image: str, volume: str) -> dict:
    """The container that downloads a hub model into the volume at its pinned revision and hashes
    it there: it needs the network (the engine's default); the token arrives as a file, never here."""
    model = deployment.model
    kwargs = _container(
        deployment,
        image,
        "download",
        ["-m", "resources.weights.host_download", model.repo, model.revision, PLACE_DIR, TOKEN_FILE],
        volume,
        read_only=False,
    )
    del kwargs["network_mode"]
    # The deployment's HF_* settings (HF_ENDPOINT for a mirror the host reaches, say) apply here too.
    hub_env = {key: value for key, value in deployment.runtime.env.items() if key.startswith("HF_")}
    kwargs["environment"] |= hub_env | {"HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_OFFLINE": "0"}
    return kwargs


def code_archive(token: str | None = None) -> bytes:
    """A tar of the hashing (and download) code at ``CODE_DIR``, and the hub token beside it, readable
    by its owner only, when there is one."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for relative in _CODE:
            tar.add(_PROJECT / relative, arcname=f"{CODE_DIR.lstrip('/')}/{relative}")
        if token:
            data = token.encode()
            info = tarfile.TarInfo(TOKEN_FILE.lstrip("/"))
            info.size, info.mode = len(data), 0o400
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def mismatch_message(
    host: str, engine: str, volume: str, model_name: str, identity: str, expected: str, found: dict
) -> str:
    """Why the weights on the host are not the ones meant, and what to do about it."""
    return (
        f"model '{model_name}': the weights volume {volume} on host {host} (engine {engine}) holds "
        f"{found['files']} files, {found['bytes']} bytes, content sha256:{found['content_hash']}, but "
        f"{identity} has content sha256:{expected}: its files were changed after they were placed, or a copy "
        f"stopped half-way. Remove the volume (docker -H {engine} volume rm {volume}) and run model_weights "
        "again: it places the weights anew and checks them there."
    )


def create_argv(kwargs: dict, name: str) -> list[str]:
    """The ``docker create`` twin of a placing container's arguments (for the plan)."""
    argv = ["docker", "create", "--name", name]
    if kwargs.get("network_mode"):
        argv += ["--network", kwargs["network_mode"]]
    for host, bind in kwargs["volumes"].items():
        argv += ["-v", f"{host}:{bind['bind']}:{bind['mode']}"]
    for key, value in sorted(kwargs["environment"].items()):
        argv += ["-e", f"{key}={value}"]
    return argv + ["--entrypoint", kwargs["command"][0], kwargs["image"], *kwargs["command"][1:]]


def planned_volume(deployment: Deployment) -> tuple[str, str]:
    """(volume, identity) as the plan shows them before anything runs: a hub model's are known from
    its pinned revision; generated and local weights are identified by a content hash computed when
    model_weights runs, so the volume's digest is a placeholder unless the config names the volume."""
    if deployment.model.source == "huggingface":
        identity = hub_identity(deployment)
        return weights_volume_name(deployment, identity), identity
    configured = docker_settings(deployment).weights_volume
    model = re.sub(r"[^a-zA-Z0-9_.-]", "-", deployment.model_name)
    volume = configured if isinstance(configured, str) else f"{VOLUME_PREFIX}{model}-<digest of the identity>"
    return volume, f"{deployment.model.source}:{deployment.model_name}@sha256:<content hash>"


def placement_plan(deployment: Deployment, image: str, local_folder: str) -> list[str | list[str]]:
    """The weights steps for ``python -m pipelines plan``: comments, and commands a user could type
    (``docker cp`` stands for the ``put_archive`` calls the pipeline streams through)."""
    volume, identity = planned_volume(deployment)
    labels = [
        flag
        for key, value in sorted(volume_labels(deployment, identity).items())
        for flag in ("--label", f"{key}={value}")
    ]
    steps: list[str | list[str]] = [["docker", "volume", "create", *labels, volume]]
    code = f"{CODE_DIR}/resources"
    if deployment.model.source == "huggingface":
        name = f"vllm-eval-weights-download-{deployment.key}"
        steps += [
            "# downloaded there at the pinned revision, then hashed there; the token goes in as a file, "
            "removed once read",
            create_argv(hub_download_kwargs(deployment, image, volume), name),
            ["docker", "cp", str(_PROJECT / "resources"), f"{name}:{code}"],
            [
                "docker",
                "cp",
                "<a file holding $" + (deployment.model.token_env or "HF_TOKEN") + ">",
                f"{name}:{TOKEN_FILE}",
            ],
            ["docker", "start", "-a", name],
            ["docker", "rm", name],
        ]
        return steps
    check, copy = (f"vllm-eval-weights-{purpose}-{deployment.key}" for purpose in ("check", "copy"))
    steps += [
        "# hashed there: the same content hash as here means reused, nothing copied",
        create_argv(hash_container_kwargs(deployment, image, volume), check),
        ["docker", "cp", str(_PROJECT / "resources"), f"{check}:{code}"],
        ["docker", "start", "-a", check],
        ["docker", "rm", check],
        "# an empty volume: the weights made or found here are streamed in, then hashed there again",
        create_argv(hash_container_kwargs(deployment, image, volume, read_only=False), copy),
        ["docker", "cp", str(_PROJECT / "resources"), f"{copy}:{code}"],
        ["docker", "cp", f"{local_folder}/.", f"{copy}:{PLACE_DIR}"],
        ["docker", "start", "-a", copy],
        ["docker", "rm", copy],
    ]
    return steps
