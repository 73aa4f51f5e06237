"""NVML constants read defensively, so any nvidia-ml-py release imports the hardware code.

nvidia-ml-py adds, renames and drops names between releases (the clock "throttle" reasons
became "event" reasons; ``nvmlClocksThrottleReasonBoardLimit`` and ``nvmlMemory_v2`` exist only
in recent ones), while a GPU host often has whatever release its image shipped. The values
are NVML's ABI (``nvml.h``) and never change, so a name the installed release lacks falls
back to the value ``nvml.h`` gives it.
"""

from __future__ import annotations

from typing import Any

import pynvml


def nvml_constant(*names: str, default: Any) -> Any:
    """The first of ``names`` that the installed nvidia-ml-py defines, else ``default`` (nvml.h's value)."""
    for name in names:
        if hasattr(pynvml, name):
            return getattr(pynvml, name)
    return default


def nvml_error(name: str) -> type[Exception]:
    """NVML's exception class by name; a class nothing raises when this release lacks it, so an
    ``except`` clause that names it still evaluates."""
    return getattr(pynvml, name, _NeverRaised)


class _NeverRaised(Exception):
    """Stands in for an NVML error class an older nvidia-ml-py does not define."""


def _reason(suffix: str, bit: int) -> int:
    return nvml_constant(f"nvmlClocksEventReason{suffix}", f"nvmlClocksThrottleReason{suffix}", default=bit)


# Why the clocks are held below their maximum: bit -> name (nvml.h, nvmlClocksEventReason*).
CLOCK_EVENT_REASONS = {
    _reason("GpuIdle", 0x1): "gpu_idle",
    _reason("ApplicationsClocksSetting", 0x2): "applications_clocks_setting",
    _reason("SwPowerCap", 0x4): "sw_power_cap",
    _reason("HwSlowdown", 0x8): "hw_slowdown",
    _reason("SyncBoost", 0x10): "sync_boost",
    _reason("SwThermalSlowdown", 0x20): "sw_thermal_slowdown",
    _reason("HwThermalSlowdown", 0x40): "hw_thermal_slowdown",
    _reason("HwPowerBrakeSlowdown", 0x80): "hw_power_brake_slowdown",
    _reason("DisplayClockSetting", 0x100): "display_clock_setting",
    _reason("BoardLimit", 0x200): "board_limit",
    _reason("Reliability", 0x400): "reliability",
}

# NVML's topology levels, with the short names `nvidia-smi topo -m` prints for them.
TOPOLOGY_LEVELS = {
    nvml_constant("NVML_TOPOLOGY_INTERNAL", default=0): "INTERNAL (same board)",
    nvml_constant("NVML_TOPOLOGY_SINGLE", default=10): "SINGLE (PIX: one PCIe switch)",
    nvml_constant("NVML_TOPOLOGY_MULTIPLE", default=20): "MULTIPLE (PXB: several PCIe switches)",
    nvml_constant("NVML_TOPOLOGY_HOSTBRIDGE", default=30): "HOSTBRIDGE (PHB: PCIe host bridge)",
    nvml_constant("NVML_TOPOLOGY_NODE", default=40): "NODE (host bridges of one NUMA node)",
    nvml_constant("NVML_TOPOLOGY_SYSTEM", default=50): "SYSTEM (SYS: across NUMA nodes)",
}

P2P_STATUS = {
    nvml_constant("NVML_P2P_STATUS_OK", default=0): "OK",
    # Releases before 12 spelled this one NVML_P2P_STATUS_CHIPSET_NOT_SUPPORED.
    nvml_constant(
        "NVML_P2P_STATUS_CHIPSET_NOT_SUPPORTED", "NVML_P2P_STATUS_CHIPSET_NOT_SUPPORED", default=1
    ): "chipset not supported",
    nvml_constant("NVML_P2P_STATUS_GPU_NOT_SUPPORTED", default=2): "GPU not supported",
    nvml_constant("NVML_P2P_STATUS_IOH_TOPOLOGY_NOT_SUPPORTED", default=3): "topology not supported",
    nvml_constant("NVML_P2P_STATUS_DISABLED_BY_REGKEY", default=4): "disabled by regkey",
    nvml_constant("NVML_P2P_STATUS_NOT_SUPPORTED", default=5): "not supported",
    nvml_constant("NVML_P2P_STATUS_UNKNOWN", default=6): "unknown",
}

# nvmlMemory_v2 is nvml.h's NVML_STRUCT_VERSION(Memory, 2): sizeof(nvmlMemory_v2_t) | 2 << 24.
MEMORY_V2 = nvml_constant("nvmlMemory_v2", default=None)
