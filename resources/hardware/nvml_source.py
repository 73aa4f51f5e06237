"""The NVML queries the hardware report needs, behind one small interface.

GPUs are named by their NVML index, never by an NVML handle, so every call and its
arguments are plain JSON values: that is what lets a session on a real GPU host be
recorded once and replayed anywhere (CI has no GPU and no driver).

Errors stay NVML's own: every implementation raises ``pynvml.NVMLError`` subclasses
(``NVMLError_NotSupported``, ``NVMLError_LibraryNotFound``, ...), so callers handle a
live GPU and a replayed one the same way.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

import pynvml

from resources.hardware.nvml_constants import MEMORY_V2, nvml_error

# NVML answers "no such link" past a GPU's last NVLink with one of these.
_NO_SUCH_LINK = (pynvml.NVMLError_InvalidArgument, pynvml.NVMLError_NotSupported)


class NvmlSource(Protocol):
    """What the hardware report asks NVML. Every method may raise ``pynvml.NVMLError``."""

    def init(self) -> None: ...
    def shutdown(self) -> None: ...
    def driver_version(self) -> str: ...
    def cuda_driver_version(self) -> int: ...
    def device_count(self) -> int: ...
    def name(self, gpu: int) -> str: ...
    def uuid(self, gpu: int) -> str: ...
    def pci_bus_id(self, gpu: int) -> str: ...
    def memory_info(self, gpu: int) -> dict[str, int]: ...
    def cuda_compute_capability(self, gpu: int) -> list[int]: ...
    def pcie_link(self, gpu: int, which: str) -> int: ...
    def ecc_mode(self, gpu: int) -> list[int]: ...
    def uncorrected_volatile_ecc_errors(self, gpu: int) -> int: ...
    def remapped_rows(self, gpu: int) -> list[int]: ...
    def persistence_mode(self, gpu: int) -> int: ...
    def mig_mode(self, gpu: int) -> list[int]: ...
    def compute_running_processes(self, gpu: int) -> list[dict[str, Any]]: ...
    def power_limit_mw(self, gpu: int) -> int: ...
    def clock_event_reasons(self, gpu: int) -> int: ...
    def nvlink_states(self, gpu: int) -> list[int]: ...
    def p2p_status(self, gpu_a: int, gpu_b: int, capability: str) -> int: ...
    def topology_common_ancestor(self, gpu_a: int, gpu_b: int) -> int: ...


PCIE_LINK_QUERIES = {
    "gen_current": "nvmlDeviceGetCurrPcieLinkGeneration",
    "gen_max": "nvmlDeviceGetMaxPcieLinkGeneration",
    "width_current": "nvmlDeviceGetCurrPcieLinkWidth",
    "width_max": "nvmlDeviceGetMaxPcieLinkWidth",
}

P2P_CAPABILITIES = {
    "nvlink": pynvml.NVML_P2P_CAPS_INDEX_NVLINK,
    # nvidia-ml-py defines NVML_P2P_CAPS_INDEX_READ as the tuple (0,): use NVML's value.
    "read": 0,
}


class LiveNvml:
    """Asks the NVML library of the driver installed on this host (through nvidia-ml-py)."""

    def __init__(self) -> None:
        self._handles: dict[int, Any] = {}

    def init(self) -> None:
        pynvml.nvmlInit()

    def shutdown(self) -> None:
        pynvml.nvmlShutdown()

    def _handle(self, gpu: int) -> Any:
        if gpu not in self._handles:
            self._handles[gpu] = pynvml.nvmlDeviceGetHandleByIndex(gpu)
        return self._handles[gpu]

    def driver_version(self) -> str:
        return pynvml.nvmlSystemGetDriverVersion()

    def cuda_driver_version(self) -> int:
        return pynvml.nvmlSystemGetCudaDriverVersion()

    def device_count(self) -> int:
        return pynvml.nvmlDeviceGetCount()

    def name(self, gpu: int) -> str:
        return pynvml.nvmlDeviceGetName(self._handle(gpu))

    def uuid(self, gpu: int) -> str:
        return pynvml.nvmlDeviceGetUUID(self._handle(gpu))

    def pci_bus_id(self, gpu: int) -> str:
        return pynvml.nvmlDeviceGetPciInfo(self._handle(gpu)).busId

    def memory_info(self, gpu: int) -> dict[str, int]:
        handle = self._handle(gpu)
        try:
            # v2 counts the driver's own reservation apart from "used", as nvidia-smi
            # does; with v1 an idle GPU looks several hundred MiB busy. Older nvidia-ml-py
            # releases know only v1.
            if MEMORY_V2 is not None:
                info = pynvml.nvmlDeviceGetMemoryInfo(handle, version=MEMORY_V2)
                return {"total": info.total, "used": info.used, "free": info.free, "reserved": info.reserved}
        except (
            pynvml.NVMLError_FunctionNotFound,
            pynvml.NVMLError_NotSupported,
            nvml_error("NVMLError_ArgumentVersionMismatch"),
        ):
            pass
        info = pynvml.nvmlDeviceGetMemoryInfo(handle)
        return {"total": info.total, "used": info.used, "free": info.free}

    def cuda_compute_capability(self, gpu: int) -> list[int]:
        return list(pynvml.nvmlDeviceGetCudaComputeCapability(self._handle(gpu)))

    def pcie_link(self, gpu: int, which: str) -> int:
        return getattr(pynvml, PCIE_LINK_QUERIES[which])(self._handle(gpu))

    def ecc_mode(self, gpu: int) -> list[int]:
        return list(pynvml.nvmlDeviceGetEccMode(self._handle(gpu)))

    def uncorrected_volatile_ecc_errors(self, gpu: int) -> int:
        return pynvml.nvmlDeviceGetTotalEccErrors(
            self._handle(gpu), pynvml.NVML_MEMORY_ERROR_TYPE_UNCORRECTED, pynvml.NVML_VOLATILE_ECC
        )

    def remapped_rows(self, gpu: int) -> list[int]:
        """[correctable, uncorrectable, pending, failed], as NVML orders them."""
        return list(pynvml.nvmlDeviceGetRemappedRows(self._handle(gpu)))

    def persistence_mode(self, gpu: int) -> int:
        return pynvml.nvmlDeviceGetPersistenceMode(self._handle(gpu))

    def mig_mode(self, gpu: int) -> list[int]:
        return list(pynvml.nvmlDeviceGetMigMode(self._handle(gpu)))

    def compute_running_processes(self, gpu: int) -> list[dict[str, Any]]:
        procs = pynvml.nvmlDeviceGetComputeRunningProcesses(self._handle(gpu))
        return [{"pid": p.pid, "used_gpu_memory": p.usedGpuMemory} for p in procs]

    def power_limit_mw(self, gpu: int) -> int:
        return pynvml.nvmlDeviceGetEnforcedPowerLimit(self._handle(gpu))

    def clock_event_reasons(self, gpu: int) -> int:
        handle = self._handle(gpu)
        event_reasons = getattr(pynvml, "nvmlDeviceGetCurrentClocksEventReasons", None)
        if event_reasons is not None:
            try:
                return event_reasons(handle)
            except pynvml.NVMLError_FunctionNotFound:
                pass
        # Drivers before 535 (and older nvidia-ml-py) only know the older name for the same bit mask.
        return pynvml.nvmlDeviceGetCurrentClocksThrottleReasons(handle)

    def nvlink_states(self, gpu: int) -> list[int]:
        """State (1 active, 0 inactive) of each NVLink the GPU has; [] when it has none."""
        handle = self._handle(gpu)
        states = []
        for link in range(pynvml.NVML_NVLINK_MAX_LINKS):
            try:
                states.append(pynvml.nvmlDeviceGetNvLinkState(handle, link))
            except _NO_SUCH_LINK:
                break
        return states

    def p2p_status(self, gpu_a: int, gpu_b: int, capability: str) -> int:
        return pynvml.nvmlDeviceGetP2PStatus(self._handle(gpu_a), self._handle(gpu_b), P2P_CAPABILITIES[capability])

    def topology_common_ancestor(self, gpu_a: int, gpu_b: int) -> int:
        return pynvml.nvmlDeviceGetTopologyCommonAncestor(self._handle(gpu_a), self._handle(gpu_b))


_QUERIES = [name for name in NvmlSource.__dict__ if not name.startswith("_") and callable(getattr(NvmlSource, name))]


class RecordingNvml:
    """Passes every query to another source (``LiveNvml`` by default) and keeps a log of it.

    Each entry holds the query, its arguments and either its result or the NVML error
    code it raised; ``recording()`` returns the log as a JSON-able dict for ``ReplayNvml``.
    """

    def __init__(self, inner: NvmlSource | None = None) -> None:
        self._inner = inner if inner is not None else LiveNvml()
        self.calls: list[dict[str, Any]] = []

    def recording(self) -> dict[str, Any]:
        return {"nvml_calls": list(self.calls)}

    def __getattr__(self, query: str) -> Any:
        if query not in _QUERIES:
            raise AttributeError(query)
        method = getattr(self._inner, query)

        def recorded(*args: Any) -> Any:
            entry: dict[str, Any] = {"call": query, "args": list(args)}
            try:
                result = method(*args)
            except pynvml.NVMLError as error:
                entry["error"] = {"code": error.value, "name": type(error).__name__}
                self.calls.append(entry)
                raise
            entry["result"] = result
            self.calls.append(entry)
            return result

        return recorded


class ReplayNvml:
    """Replays a recording of real NVML made by ``RecordingNvml`` on a GPU host.

    It answers each query with the result recorded for the same arguments, or raises
    the same NVML error the driver raised then. A query the recording never saw raises
    ``LookupError``: answering it with a guess would make a replayed report lie.
    """

    def __init__(self, recording: dict[str, Any]) -> None:
        self._answers: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for entry in recording["nvml_calls"]:
            self._answers.setdefault(_key(entry["call"], entry["args"]), []).append(entry)
        self._served: dict[tuple[str, str], int] = {}

    def __getattr__(self, query: str) -> Any:
        if query not in _QUERIES:
            raise AttributeError(query)

        def replayed(*args: Any) -> Any:
            key = _key(query, list(args))
            if key not in self._answers:
                raise LookupError(f"NVML query {query}{tuple(args)} is not in the recording")
            # A query asked twice gets its answers in recorded order, then the last again.
            answers = self._answers[key]
            served = self._served.get(key, 0)
            self._served[key] = served + 1
            entry = answers[min(served, len(answers) - 1)]
            if "error" in entry:
                raise pynvml.NVMLError(entry["error"]["code"])
            return entry["result"]

        return replayed


def _key(query: str, args: list[Any]) -> tuple[str, str]:
    return query, json.dumps(args)
