"""Host facts a vLLM deployment depends on besides the GPUs: RAM, swap, CPUs, disk, /dev/shm.

``read_host_facts`` reads them from /proc and statvfs. The result is a plain value that
round-trips through JSON, so a recording made on a GPU host carries the host facts next to
its NVML answers and a replayed report comes out identical.
"""

from __future__ import annotations

import os
import socket
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class HostFacts:
    mem_total_bytes: int | None
    mem_available_bytes: int | None
    swap_total_bytes: int | None
    swap_free_bytes: int | None
    cpu_model: str | None
    cpu_count: int | None
    cpus_usable: int | None
    kernel: str
    weights_dir: str
    weights_dir_free_bytes: int | None
    weights_dir_total_bytes: int | None
    shm_total_bytes: int | None
    shm_free_bytes: int | None
    # Which host these are and how they were read: None in recordings made before they were kept.
    hostname: str | None = None
    engine: str | None = None  # the Docker Engine whose capture container read them; None: read here

    def as_dict(self) -> dict[str, Any]:
        # Facts not known are left out, so a recording made before they existed round-trips unchanged.
        return {key: value for key, value in asdict(self).items() if not (key in _OPTIONAL and value is None)}

    @property
    def where(self) -> str:
        """The host named for a reader: its name, and the engine it was reached through."""
        name = self.hostname or "unknown host"
        return f"{name} (through the Docker Engine at {self.engine})" if self.engine else f"{name} (this machine)"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HostFacts:
        return cls(**data)


_OPTIONAL = ("hostname", "engine")


def default_weights_dir() -> Path:
    """Where Hugging Face downloads go unless told otherwise: the hub cache."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    hf_home = os.environ.get("HF_HOME") or Path.home() / ".cache" / "huggingface"
    return Path(hf_home) / "hub"


def read_host_facts(
    weights_dir: Path | None = None, proc: Path = Path("/proc"), shm: Path = Path("/dev/shm")
) -> HostFacts:
    weights_dir = Path(weights_dir) if weights_dir is not None else default_weights_dir()
    meminfo = _read_meminfo(proc / "meminfo")
    disk_free, disk_total = _disk_space(weights_dir)
    shm_free, shm_total = _disk_space(shm, walk_up=False)
    return HostFacts(
        mem_total_bytes=meminfo.get("MemTotal"),
        mem_available_bytes=meminfo.get("MemAvailable"),
        swap_total_bytes=meminfo.get("SwapTotal"),
        swap_free_bytes=meminfo.get("SwapFree"),
        cpu_model=_cpu_model(proc / "cpuinfo"),
        cpu_count=os.cpu_count(),
        cpus_usable=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        kernel=os.uname().release,
        weights_dir=str(weights_dir),
        weights_dir_free_bytes=disk_free,
        weights_dir_total_bytes=disk_total,
        shm_total_bytes=shm_total,
        shm_free_bytes=shm_free,
        hostname=socket.gethostname(),
    )


def _fields(path: Path) -> list[tuple[str, str]]:
    """``key: value`` lines of a /proc file (none when it cannot be read)."""
    try:
        text = path.read_text()
    except OSError:
        return []
    return [(key.strip(), value.strip()) for key, _, value in (line.partition(":") for line in text.splitlines())]


def _read_meminfo(path: Path) -> dict[str, int]:
    values: dict[str, int] = {}
    for key, value in _fields(path):
        parts = value.split()
        if parts and parts[0].isdigit():
            # /proc/meminfo says "kB" and means KiB.
            factor = 1024 if len(parts) > 1 and parts[1] == "kB" else 1
            values[key] = int(parts[0]) * factor
    return values


def _cpu_model(path: Path) -> str | None:
    for key, value in _fields(path):
        if key in ("model name", "Model", "cpu model"):
            return value
    return None


def _disk_space(path: Path, walk_up: bool = True) -> tuple[int | None, int | None]:
    """(free, total) bytes of the filesystem holding ``path``.

    The weights folder usually does not exist before the first download, so measure the
    nearest folder above it that does: that is the filesystem the download will fill.
    """
    probe = path
    while walk_up and not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        st = os.statvfs(probe)
    except OSError:
        return None, None
    return st.f_bavail * st.f_frsize, st.f_blocks * st.f_frsize
