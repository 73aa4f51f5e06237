"""What a GPU host is made of, read through NVML and /proc, as one report.

The report is the first asset of the chain: the gates in ``hardware_gates`` read it to
refuse a deployment the host cannot run, and its fingerprint tags every benchmark row so
that results from different hardware are never compared silently.

A query a GPU does not support (NVML's NotSupported and friends) leaves that fact None,
shown as "n/a"; a host without an NVIDIA driver gives a report that says so and why.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import pynvml

from resources.hardware.host_facts import HostFacts, read_host_facts
from resources.hardware.nvml_constants import CLOCK_EVENT_REASONS, P2P_STATUS, TOPOLOGY_LEVELS
from resources.hardware.nvml_source import LiveNvml, NvmlSource

MIB = 1024 * 1024


@dataclass(frozen=True)
class GpuProcess:
    pid: int
    used_memory_mib: int | None


@dataclass(frozen=True)
class GpuFacts:
    index: int
    name: str | None
    uuid: str | None
    pci_bus_id: str | None
    memory_total_mib: int | None
    memory_used_mib: int | None
    compute_capability: str | None
    pcie_gen_current: int | None
    pcie_gen_max: int | None
    pcie_width_current: int | None
    pcie_width_max: int | None
    ecc_enabled: bool | None
    ecc_uncorrected_volatile: int | None
    remapped_rows_pending: bool | None
    remapped_rows_failed: bool | None
    persistence_mode: bool | None
    mig_enabled: bool | None
    compute_processes: list[GpuProcess] | None
    power_limit_watts: float | None
    clock_event_reasons: list[str] | None
    nvlink_active: list[bool] | None  # one entry per NVLink, in link order
    unsupported: dict[str, str] = field(default_factory=dict)  # query -> NVML error


@dataclass(frozen=True)
class GpuPair:
    gpu_a: int
    gpu_b: int
    common_ancestor: str | None
    nvlink_p2p: str | None
    pcie_p2p_read: str | None

    @property
    def over_nvlink(self) -> bool:
        return self.nvlink_p2p == "OK"


@dataclass(frozen=True)
class HardwareReport:
    nvidia_driver_present: bool
    no_driver_reason: str | None
    driver_version: str | None
    cuda_driver_version: str | None
    gpus: list[GpuFacts]
    gpu_pairs: list[GpuPair]
    host: HostFacts

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "host": self.host.as_dict()}

    @property
    def fingerprint(self) -> str:
        """Hash of what makes two hosts comparable, nothing that moves while one runs.

        Host RAM is left out: VMs here grow MemTotal as memory is touched, so the same
        host would read as two.
        """
        stable = {
            "driver_version": self.driver_version,
            "cpu": [self.host.cpu_model, self.host.cpu_count],
            "gpus": [
                [
                    g.name,
                    g.memory_total_mib,
                    g.compute_capability,
                    g.pcie_gen_max,
                    g.pcie_width_max,
                    sum(g.nvlink_active or []),
                ]
                for g in self.gpus
            ],
            "pairs": [[p.gpu_a, p.gpu_b, p.common_ancestor, p.nvlink_p2p] for p in self.gpu_pairs],
        }
        if self.host.hostname:  # results from two hosts are never one history, however alike
            stable["host"] = self.host.hostname
        digest = hashlib.sha256(json.dumps(stable, sort_keys=True).encode())
        return digest.hexdigest()[:16]

    def to_markdown(self) -> str:
        """Tables for the Dagster UI's asset page."""
        return "\n".join(_markdown_lines(self)).rstrip() + "\n"


def collect_hardware_report(
    nvml: NvmlSource | None = None, host: HostFacts | None = None, weights_dir: Path | None = None
) -> HardwareReport:
    """Read this host (or a recording of one, through ``nvml`` and ``host``)."""
    nvml = nvml if nvml is not None else LiveNvml()
    host = host if host is not None else read_host_facts(weights_dir)
    try:
        nvml.init()
    except pynvml.NVMLError as error:
        return HardwareReport(False, _no_driver_reason(error), None, None, [], [], host)
    try:
        count = _ask(nvml.device_count) or 0
        gpus = [_gpu_facts(nvml, index) for index in range(count)]
        pairs = [_gpu_pair(nvml, a, b) for a in range(count) for b in range(a + 1, count)]
        cuda = _ask(nvml.cuda_driver_version)
        return HardwareReport(
            nvidia_driver_present=True,
            no_driver_reason=None,
            driver_version=_ask(nvml.driver_version),
            cuda_driver_version=None if cuda is None else f"{cuda // 1000}.{cuda % 1000 // 10}",
            gpus=gpus,
            gpu_pairs=pairs,
            host=host,
        )
    finally:
        _ask(nvml.shutdown)


def _no_driver_reason(error: pynvml.NVMLError) -> str:
    if isinstance(error, pynvml.NVMLError_LibraryNotFound):
        return "no NVIDIA driver on this host: libnvidia-ml.so.1, which the driver installs, was not found"
    if isinstance(error, pynvml.NVMLError_DriverNotLoaded):
        return "the NVIDIA kernel driver is not loaded: load it (modprobe nvidia) or reinstall the driver"
    if isinstance(error, pynvml.NVMLError_LibRmVersionMismatch):
        return (
            "the NVIDIA driver's library and kernel module differ in version, as "
            "after an upgrade without a reboot: reboot the host"
        )
    if isinstance(error, pynvml.NVMLError_NoPermission):
        return "NVML refused access: run as a user allowed to open /dev/nvidia*"
    return f"NVML could not start: {error} (NVML error {error.value})"


def _ask(query: Callable[..., Any], *args: Any, errors: dict[str, str] | None = None, label: str = "") -> Any:
    """The query's answer, or None when NVML cannot give it on this GPU."""
    try:
        return query(*args)
    except pynvml.NVMLError as error:
        if errors is not None:
            errors[label] = type(error).__name__.removeprefix("NVMLError_")
        return None


def _gpu_facts(nvml: NvmlSource, index: int) -> GpuFacts:
    errors: dict[str, str] = {}

    def ask(label: str, query: Callable[..., Any], *args: Any) -> Any:
        return _ask(query, index, *args, errors=errors, label=label)

    memory = ask("memory_info", nvml.memory_info)
    capability = ask("cuda_compute_capability", nvml.cuda_compute_capability)
    ecc = ask("ecc_mode", nvml.ecc_mode)
    rows = ask("remapped_rows", nvml.remapped_rows)
    persistence = ask("persistence_mode", nvml.persistence_mode)
    mig = ask("mig_mode", nvml.mig_mode)
    procs = ask("compute_running_processes", nvml.compute_running_processes)
    power_mw = ask("power_limit_mw", nvml.power_limit_mw)
    reasons = ask("clock_event_reasons", nvml.clock_event_reasons)
    links = ask("nvlink_states", nvml.nvlink_states)
    return GpuFacts(
        index=index,
        name=ask("name", nvml.name),
        uuid=ask("uuid", nvml.uuid),
        pci_bus_id=ask("pci_bus_id", nvml.pci_bus_id),
        memory_total_mib=None if memory is None else memory["total"] // MIB,
        memory_used_mib=None if memory is None else memory["used"] // MIB,
        compute_capability=None if capability is None else f"{capability[0]}.{capability[1]}",
        pcie_gen_current=ask("pcie_gen_current", nvml.pcie_link, "gen_current"),
        pcie_gen_max=ask("pcie_gen_max", nvml.pcie_link, "gen_max"),
        pcie_width_current=ask("pcie_width_current", nvml.pcie_link, "width_current"),
        pcie_width_max=ask("pcie_width_max", nvml.pcie_link, "width_max"),
        ecc_enabled=None if ecc is None else ecc[0] == pynvml.NVML_FEATURE_ENABLED,
        ecc_uncorrected_volatile=(
            ask("uncorrected_volatile_ecc_errors", nvml.uncorrected_volatile_ecc_errors)
            if ecc is not None and ecc[0]
            else None
        ),
        remapped_rows_pending=None if rows is None else bool(rows[2]),
        remapped_rows_failed=None if rows is None else bool(rows[3]),
        persistence_mode=None if persistence is None else persistence == pynvml.NVML_FEATURE_ENABLED,
        mig_enabled=None if mig is None else mig[0] == pynvml.NVML_DEVICE_MIG_ENABLE,
        compute_processes=None
        if procs is None
        else [
            GpuProcess(p["pid"], None if p["used_gpu_memory"] is None else p["used_gpu_memory"] // MIB) for p in procs
        ],
        power_limit_watts=None if power_mw is None else power_mw / 1000,
        clock_event_reasons=None if reasons is None else _decode_clock_events(reasons),
        nvlink_active=None if links is None else [s == pynvml.NVML_FEATURE_ENABLED for s in links],
        unsupported=errors,
    )


def _decode_clock_events(mask: int) -> list[str]:
    names = [name for bit, name in CLOCK_EVENT_REASONS.items() if mask & bit]
    unknown = mask & ~sum(CLOCK_EVENT_REASONS)
    return names + ([f"other_bits_{unknown:#x}"] if unknown else [])


def _gpu_pair(nvml: NvmlSource, a: int, b: int) -> GpuPair:
    level = _ask(nvml.topology_common_ancestor, a, b)
    nvlink = _ask(nvml.p2p_status, a, b, "nvlink")
    read = _ask(nvml.p2p_status, a, b, "read")
    return GpuPair(
        gpu_a=a,
        gpu_b=b,
        common_ancestor=None if level is None else TOPOLOGY_LEVELS.get(level, f"level {level}"),
        nvlink_p2p=None if nvlink is None else P2P_STATUS.get(nvlink, f"status {nvlink}"),
        pcie_p2p_read=None if read is None else P2P_STATUS.get(read, f"status {read}"),
    )


# ---- markdown ----------------------------------------------------------------------------

NA = "n/a"


def _markdown_lines(report: HardwareReport) -> list[str]:
    lines = ["## Hardware report", ""]
    if not report.nvidia_driver_present:
        lines += [
            f"**NVIDIA GPUs unavailable**: {report.no_driver_reason}.",
            "",
            f"Fingerprint `{report.fingerprint}`",
            "",
        ]
        return lines + _host_table(report.host)
    lines += [
        f"NVIDIA driver {_na(report.driver_version)}, CUDA driver "
        f"{_na(report.cuda_driver_version)}, {len(report.gpus)} GPU(s), "
        f"fingerprint `{report.fingerprint}`",
        "",
    ]
    lines += _table(
        "GPUs",
        [
            "GPU",
            "name",
            "memory used / total",
            "compute capability",
            "PCIe now (max)",
            "ECC, uncorrected errors",
            "row remaps pending / failed",
            "persistence",
            "MIG",
            "power limit",
            "clock events",
            "compute processes",
        ],
        [
            [
                str(g.index),
                _na(g.name),
                f"{_na(g.memory_used_mib)} / {_na(g.memory_total_mib)} MiB",
                _na(g.compute_capability),
                f"{_link(g.pcie_gen_current, g.pcie_width_current)} ({_link(g.pcie_gen_max, g.pcie_width_max)})",
                f"{_on_off(g.ecc_enabled)}, {_na(g.ecc_uncorrected_volatile)}",
                f"{_yes_no(g.remapped_rows_pending)} / {_yes_no(g.remapped_rows_failed)}",
                _on_off(g.persistence_mode),
                _on_off(g.mig_enabled),
                NA if g.power_limit_watts is None else f"{g.power_limit_watts:g} W",
                NA if g.clock_event_reasons is None else ", ".join(g.clock_event_reasons) or "none",
                _processes(g.compute_processes),
            ]
            for g in report.gpus
        ],
    )
    lines += _table(
        "NVLink",
        ["GPU", "links active", "inactive links"],
        [[str(g.index), _nvlinks_active(g.nvlink_active), _inactive_links(g.nvlink_active)] for g in report.gpus],
    )
    if report.gpu_pairs:
        lines += _table(
            "GPU pairs",
            ["pair", "talk over", "NVLink P2P", "PCIe P2P read", "common ancestor"],
            [
                [
                    f"{p.gpu_a}-{p.gpu_b}",
                    "NVLink" if p.over_nvlink else "PCIe",
                    _na(p.nvlink_p2p),
                    _na(p.pcie_p2p_read),
                    _na(p.common_ancestor),
                ]
                for p in report.gpu_pairs
            ],
        )
    unsupported = [
        f"GPU {g.index}: " + ", ".join(f"{q} ({e})" for q, e in g.unsupported.items())
        for g in report.gpus
        if g.unsupported
    ]
    if unsupported:
        lines += ["Not answered by NVML: " + "; ".join(unsupported) + ".", ""]
    return lines + _host_table(report.host)


def _host_table(host: HostFacts) -> list[str]:
    swap = (
        NA
        if host.swap_total_bytes is None
        else (
            "none"
            if host.swap_total_bytes == 0
            else f"{_gib(host.swap_total_bytes)} ({_gib(host.swap_free_bytes)} free)"
        )
    )
    where = [["host", host.where]] if host.hostname or host.engine else []
    return _table(
        "Host",
        ["fact", "value"],
        where
        + [
            ["CPU", f"{_na(host.cpu_model)}, {_na(host.cpu_count)} CPUs ({_na(host.cpus_usable)} usable)"],
            ["RAM", f"{_gib(host.mem_total_bytes)} ({_gib(host.mem_available_bytes)} available)"],
            ["swap", swap],
            ["/dev/shm", f"{_gib(host.shm_total_bytes)} ({_gib(host.shm_free_bytes)} free)"],
            [
                f"disk at {host.weights_dir}",
                f"{_gib(host.weights_dir_free_bytes)} free of {_gib(host.weights_dir_total_bytes)}",
            ],
            ["kernel", host.kernel],
        ],
    )


def _table(title: str, header: list[str], rows: list[list[str]]) -> list[str]:
    def row(cells: list[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    return [f"### {title}", "", row(header), row(["---"] * len(header)), *(row(r) for r in rows), ""]


def _na(value: Any) -> str:
    return NA if value is None else str(value)


def _on_off(value: bool | None) -> str:
    return NA if value is None else ("on" if value else "off")


def _yes_no(value: bool | None) -> str:
    return NA if value is None else ("yes" if value else "no")


def _gib(value: int | None) -> str:
    return NA if value is None else f"{value / 2**30:.1f} GiB"


def _link(gen: int | None, width: int | None) -> str:
    return f"Gen{_na(gen)} x{_na(width)}"


def _processes(procs: list[GpuProcess] | None) -> str:
    if procs is None:
        return NA
    return ", ".join(f"pid {p.pid}: {_na(p.used_memory_mib)} MiB" for p in procs) or "none"


def _nvlinks_active(links: list[bool] | None) -> str:
    if links is None:
        return NA
    return f"{sum(links)} of {len(links)}" if links else "no NVLink"


def _inactive_links(links: list[bool] | None) -> str:
    if not links:
        return NA if links is None else "-"
    return ", ".join(str(i) for i, active in enumerate(links) if not active) or "none"
