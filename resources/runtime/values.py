"""The typed values one asset hands the next: what serves, and the running service.

Every runtime fills the same fields, so later steps (smoke test, benchmark, the ``runs`` row)
never ask which runtime produced them. What only one runtime has (a container's engine and
mounts) rides in a field of its own, typed too.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ImageInfo:
    """What serves: a local vLLM installation, a pinned or built image, or an endpoint's version."""

    runtime: str
    image_ref: str
    image_digest: str  # the exact identity a replay must reproduce
    vllm_version: str
    details: dict = field(default_factory=dict)  # runtime-specific facts, shown as metadata

    def metadata(self) -> dict[str, str]:
        facts = {
            "runtime": self.runtime,
            "image_ref": self.image_ref,
            "image_digest": self.image_digest,
            "vllm_version": self.vllm_version,
            **self.details,
        }
        return {key: str(value) for key, value in facts.items()}


@dataclass(frozen=True)
class ContainerInfo:
    """Where a container-run service lives, for a benchmark run beside it."""

    engine: str
    name: str
    port: int  # the port inside the container
    image: str
    model_path: str  # the weights' path inside the container
    vllm_command: tuple[str, ...]
    volumes: dict
    environment: dict  # from the config: secrets are passed by name, never stored here


@dataclass(frozen=True)
class ServiceInfo:
    """A healthy server: where it answers, what it serves, and how it came up."""

    base_url: str
    served_model_name: str
    config_hash: str
    serve_args: tuple[str, ...]
    command: tuple[str, ...]  # exactly what started the server (`docker run ...`); empty if nothing did
    startup_s: float | None  # None: reused, or not started by the pipeline
    reused: bool
    log_path: str
    phases: tuple[str, ...] = ()
    phase_durations: dict = field(default_factory=dict)
    # From vLLM's log: "hit", "miss", "load_failed"; where the log says nothing, what the kept folder
    # held before the start ("kept", "empty"); None when nothing was compiled or nobody can tell.
    compile_cache: str | None = None
    cold_start: bool = False  # started from an emptied compile cache, on request
    kv_cache_tokens: int | None = None  # the engine's capacity as its start-up log reported it
    max_concurrency: float | None = None
    pid: int | None = None
    container: ContainerInfo | None = None


@dataclass(frozen=True)
class HardwareCapture:
    """What the serving host said about itself: its hardware report, whether the model's weights
    are there already (the disk gate then counts nothing), and their config.json if so."""

    report: object  # resources.hardware.report.HardwareReport (imported lazily: it loads NVML's binding)
    weights_present: bool
    model_config: dict | None = None
