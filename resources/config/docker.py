"""The ``runtime.docker`` block of a deployment: which engine, which image, how the container runs.

Kept apart from ``config_models`` because only the ``docker`` runtime reads it. Every field maps
to one ``docker run`` flag or one build setting, so ``python -m pipelines plan`` can print the
exact commands the pipeline will run.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_SIZE = re.compile(r"^\d+(\.\d+)?[bkmg]?$", re.IGNORECASE)
_ENGINE = re.compile(r"^(unix|tcp|ssh|npipe)://.+")
_VOLUME_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")  # what the Docker Engine accepts
_IMAGE_NAME = re.compile(r"^[a-z0-9][a-z0-9._/-]*(:[0-9]+/[a-z0-9._/-]+)?$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def split_image_ref(ref: str) -> tuple[str, str | None, str | None]:
    """``repo[:tag][@digest]`` -> (repo, tag, digest). A port in the registry host is not a tag."""
    name, _, digest = ref.partition("@")
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        repo, tag = name.rsplit(":", 1)
        return repo, tag, digest or None
    return name, None, digest or None


def pinned_image_problem(ref: str) -> str | None:
    """Why ``ref`` is not a pinned image reference, or None when it is."""
    _, tag, digest = split_image_ref(ref)
    if digest:
        return None
    if tag is None or tag == "latest":
        return (
            f"'{ref}' is not pinned: {'latest' if tag else 'no tag'} moves whenever a new release is "
            "pushed, so tonight's run and a replay next month would serve different vLLM builds. "
            "Name a release tag (e.g. vllm/vllm-openai:v0.10.1.1) or a digest (repo@sha256:...)"
        )
    return None


class PullImage(_Strict):
    """An image from a registry at a pinned tag or digest; its repo digest is recorded."""

    pull: str = Field(description="e.g. vllm/vllm-openai:v0.10.1.1 (never latest)")

    @field_validator("pull")
    @classmethod
    def _pinned(cls, value: str) -> str:
        problem = pinned_image_problem(value)
        if problem:
            raise ValueError(problem)
        return value


class BuildSpec(_Strict):
    """A Dockerfile under ``configs/`` built with pinned arguments, tagged by a content hash."""

    context: str = Field(description="build context folder, relative to the config folder, e.g. images/glm5")
    dockerfile: str = Field("Dockerfile", description="relative to the context")
    args: dict[str, str] = Field(default_factory=dict, description="build arguments, each pinned")
    repository: str = Field(description="image name the build is tagged with; the tag is the content hash")

    @field_validator("args")
    @classmethod
    def _args_pinned(cls, value: dict[str, str]) -> dict[str, str]:
        for name, arg in value.items():
            if re.search(r"(^|[/:@])(latest|main|master|HEAD)$", arg):
                raise ValueError(
                    f"build argument {name}={arg} is not pinned: a moving tag or branch builds a "
                    "different image next time; pin a release tag or a commit"
                )
            if name.upper().endswith("IMAGE") and pinned_image_problem(arg):
                raise ValueError(f"build argument {name}: {pinned_image_problem(arg)}")
        return value

    @field_validator("repository")
    @classmethod
    def _repository(cls, value: str) -> str:
        if not _IMAGE_NAME.match(value) or ":" in value.rsplit("/", 1)[-1]:
            raise ValueError(f"'{value}' is not an image repository name (lower case, no tag), e.g. vllm-eval/glm5")
        return value


class BuildImage(_Strict):
    build: BuildSpec


class EngineTls(_Strict):
    """Client certificates for a ``tcp://`` engine, as ``docker --tlsverify`` uses them."""

    ca_cert: str = Field(description="the CA that signed the engine's certificate (ca.pem)")
    client_cert: str = Field(description="this client's certificate (cert.pem)")
    client_key: str = Field(description="this client's private key (key.pem)")


class DockerSettings(_Strict):
    """How the ``docker`` runtime gets its image and runs vLLM's container."""

    engine: str | None = Field(
        None,
        description="Docker Engine: unix:///var/run/docker.sock, tcp://host:2376, ssh://user@gpu-node; "
        "default: DOCKER_HOST, else the local socket",
    )
    tls: EngineTls | None = Field(
        None, description="for a tcp:// engine: the CA and client certificate it is reached with (TLS, verified)"
    )
    insecure: bool = Field(
        False, description="allow a tcp:// engine without TLS: anyone who reaches its port controls the host"
    )
    image: PullImage | BuildImage
    capture_image: str | None = Field(
        None,
        description="the pinned image (with python3) the hardware capture runs in on the engine; default: "
        "the deployment's vLLM image, or the BASE_IMAGE build argument of a built one",
    )
    gpus: Literal["all"] | tuple[int, ...] = Field(
        "all", description="GPU device request: all, or a list of indices (ignored for device: cpu)"
    )
    shm_size: str | None = Field("16g", description="/dev/shm size; Docker's 64 MB default is fatal to vLLM")
    ipc_mode: Literal["private", "host"] = Field(
        "private",
        description="private: own IPC namespace sized by shm_size; host: share the host's "
        "(then shm_size has no effect and vLLM's shared-memory files land in the host's /dev/shm)",
    )
    restart: Literal["no", "unless-stopped", "always", "on-failure"] = "no"
    vllm_command: tuple[str, ...] = Field(
        ("vllm",), min_length=1, description="vLLM's command line inside the image; 'serve' and 'bench serve' follow"
    )
    python: str = Field("python3", description="the image's interpreter, used to read the installed vLLM version")
    volumes: tuple[str, ...] = Field(
        (), description="extra bind mounts HOST:CONTAINER[:ro], besides the weights (mounted read-only)"
    )
    weights_path: str | None = Field(
        None,
        description="where the weights are on the engine's host, when that is not this machine "
        "(a remote engine bind-mounts from its own disk); default: the path model_weights reports",
    )
    weights_volume: bool | str | None = Field(
        None,
        description="put the weights into a named volume on the engine's host, verified there by content "
        "hash: true (a volume named after the model and its revision or content hash), a volume name, or false "
        "(mount the path model_weights reports, or weights_path). Default: a volume when the engine is remote "
        "(not unix://) and weights_path is not set",
    )
    bench: Literal["exec", "client"] = Field(
        "exec",
        description="exec: vllm bench serve inside the service container; client: a separate "
        "run-to-completion container of the same image (dagster-docker's PipesDockerClient)",
    )
    labels: dict[str, str] = Field(default_factory=dict, description="extra container labels")

    @field_validator("engine")
    @classmethod
    def _engine(cls, value: str | None) -> str | None:
        if value is not None and not _ENGINE.match(value):
            raise ValueError(f"'{value}' is not a Docker Engine address; use unix://, tcp:// or ssh://")
        return value

    @field_validator("capture_image")
    @classmethod
    def _capture_image_pinned(cls, value: str | None) -> str | None:
        problem = pinned_image_problem(value) if value else None
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("shm_size")
    @classmethod
    def _shm(cls, value: str | None) -> str | None:
        if value is not None and not _SIZE.match(value):
            raise ValueError(f"'{value}' is not a size; write e.g. 16g or 512m")
        return value

    @field_validator("volumes")
    @classmethod
    def _volumes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for volume in value:
            parts = volume.split(":")
            if (
                len(parts) not in (2, 3)
                or not parts[0].startswith("/")
                or not parts[1].startswith("/")
                or (len(parts) == 3 and parts[2] not in ("ro", "rw"))
            ):
                raise ValueError(f"'{volume}' is not HOST_PATH:CONTAINER_PATH[:ro|rw] with absolute paths")
        return value

    @model_validator(mode="after")
    def _tcp_needs_tls(self) -> "DockerSettings":
        # A Docker Engine's API is root on its host: over plain tcp:// anyone on the network
        # could start containers there, and nothing proves the engine is the one meant.
        tcp = bool(self.engine and self.engine.startswith("tcp://"))
        if tcp and self.tls is None and not self.insecure:
            raise ValueError(
                f"engine {self.engine} is plain tcp://: set tls: {{ca_cert, client_cert, client_key}} "
                "(the engine started with --tlsverify), or insecure: true to accept an unauthenticated engine"
            )
        if self.tls is not None and not tcp:
            raise ValueError("tls applies to a tcp:// engine only; ssh:// and unix:// are secured by their transport")
        return self

    @field_validator("weights_volume")
    @classmethod
    def _weights_volume(cls, value: bool | str | None) -> bool | str | None:
        if isinstance(value, str) and not _VOLUME_NAME.match(value):
            raise ValueError(
                f"weights_volume '{value}' is not a Docker volume name (letters, digits, _ . -, starting with a "
                "letter or digit); write true for a name made from the model and its revision, or false for none"
            )
        return value

    @model_validator(mode="after")
    def _one_weights_place(self) -> "DockerSettings":
        if self.weights_path and self.weights_volume not in (None, False):
            raise ValueError(
                f"weights_path ({self.weights_path}) and weights_volume ({self.weights_volume}) both say where the "
                "weights are on the engine's host: keep weights_path for weights you put there yourself, or "
                "weights_volume for weights model_weights places and verifies there"
            )
        return self

    @model_validator(mode="after")
    def _gpus(self) -> "DockerSettings":
        if isinstance(self.gpus, tuple) and (not self.gpus or len(set(self.gpus)) != len(self.gpus)):
            raise ValueError("gpus: list each GPU index once, or write all")
        return self


def is_secret_name(name: str) -> bool:
    """Environment names whose values are never printed (tokens, keys, passwords)."""
    return bool(re.search(r"TOKEN|KEY|SECRET|PASSWORD|PASSWD|CREDENTIAL", name, re.IGNORECASE))
