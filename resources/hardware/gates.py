"""Pre-flight gates: will this deployment run on this host, and what to change if not.

Each gate turns one fact of the hardware report into a pass or a failure whose message
says what to do. ERROR gates block the deployment (vLLM would fail to start, or run on
the wrong GPUs); WARN gates are recorded but let it go on (it will start, but slower or
on thin margins). Pure functions of the report and the deployment's requirements.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Literal

from resources.figures import figure
from resources.hardware.report import GpuFacts, GpuProcess, HardwareReport

GIB = 2**30
MIB = 2**20

# vLLM refuses to start when the GPU's free memory is below gpu_memory_utilization of its
# total; its own estimate of the rest (activations of the profiling pass, CUDA graphs,
# NCCL buffers) is typically 1-3 GiB per GPU: keep that much off the KV cache budget.
DEFAULT_RUNTIME_OVERHEAD_BYTES = 2 * GIB


@dataclass(frozen=True)
class GateRequirements:
    weights_bytes: int  # all weights, summed over the checkpoint's files
    kv_bytes_per_token: int  # 2 (K and V) * layers * kv_heads * head_dim * bytes per element
    max_model_len: int | None  # None: neither the parameter set nor the model's config.json gives it
    tensor_parallel_size: int = 1
    gpu_memory_utilization: float = 0.90
    gpu_ids: list[int] | None = None  # None: the first tensor_parallel_size GPUs
    # How many KV heads the model has. vLLM splits them across TP ranks and replicates
    # them past that count, so each GPU holds kv_bytes_per_token / min(tp, kv_heads).
    # MLA models (DeepSeek, GLM-5) keep one latent per token on every rank: kv_heads=1.
    kv_heads: int | None = None
    min_driver_version: str = "535.104"
    min_host_ram_bytes: int | None = None  # None: twice the weights
    requires_gpu: bool = True  # False for CPU deployments
    weights_already_present: bool = False
    disk_bytes_needed: int | None = None  # None: the weights plus 10 %
    runtime_overhead_bytes_per_gpu: int = DEFAULT_RUNTIME_OVERHEAD_BYTES
    ignore_pids: list[int] = field(default_factory=list)  # our own service, when reused
    params_file: str = "the parameter set"  # where max_model_len is set, for the verdict's fix


@dataclass(frozen=True)
class GateResult:
    name: str
    passed: bool
    severity: Literal["ERROR", "WARN"]
    description: str
    metadata: dict[str, Any] = field(default_factory=dict)


def evaluate_gates(report: HardwareReport, req: GateRequirements) -> list[GateResult]:
    results = []
    for gate in GPU_GATES:
        name, severity = _name(gate), GATE_SEVERITY[gate]
        if not req.requires_gpu:
            results.append(GateResult(name, True, severity, "not applicable: CPU deployment, no GPU needed"))
        elif not report.nvidia_driver_present and gate is not nvidia_driver_gate:
            results.append(
                GateResult(
                    name, False, severity, f"not checked: no NVIDIA driver on this host ({report.no_driver_reason})"
                )
            )
        else:
            results.append(gate(report, req))
    return results + [gate(report, req) for gate in HOST_GATES]


def _name(gate: Callable[..., GateResult]) -> str:
    return gate.__name__.removesuffix("_gate")


def nvidia_driver_gate(report: HardwareReport, req: GateRequirements) -> GateResult:
    if report.nvidia_driver_present:
        return GateResult("nvidia_driver", True, "ERROR", f"NVIDIA driver {report.driver_version} answers")
    return GateResult(
        "nvidia_driver",
        False,
        "ERROR",
        f"this GPU deployment cannot run here: {report.no_driver_reason}. "
        "Install the NVIDIA driver, or run it on a GPU host",
        {"reason": report.no_driver_reason},
    )


def driver_version_gate(report: HardwareReport, req: GateRequirements) -> GateResult:
    have, need = report.driver_version, req.min_driver_version
    meta = {"driver_version": have, "min_driver_version": need}
    if have is None:
        return GateResult(
            "driver_version", False, "ERROR", "NVML did not give the driver version: check `nvidia-smi`", meta
        )
    if _version(have) < _version(need):
        return GateResult(
            "driver_version",
            False,
            "ERROR",
            f"driver {have} is too old; upgrade the driver to >= {need}: FP8 kernels need it",
            meta,
        )
    return GateResult("driver_version", True, "ERROR", f"driver {have} >= {need}", meta)


def gpu_count_gate(report: HardwareReport, req: GateRequirements) -> GateResult:
    tp, have = req.tensor_parallel_size, len(report.gpus)
    meta = {"tensor_parallel_size": tp, "gpus_on_host": have, "gpu_ids": req.gpu_ids}
    if have < tp:
        return GateResult(
            "gpu_count",
            False,
            "ERROR",
            f"tensor_parallel_size {tp} needs {tp} GPUs, this host has {have}: "
            f"run on a host with >= {tp} GPUs or lower tensor_parallel_size "
            "(each GPU then holds a larger share of the weights)",
            meta,
        )
    if req.gpu_ids is not None:
        missing = [i for i in req.gpu_ids if i >= have]
        if missing:
            return GateResult(
                "gpu_count",
                False,
                "ERROR",
                f"the deployment is pinned to GPUs {req.gpu_ids} (runtime.docker.gpus or "
                f"CUDA_VISIBLE_DEVICES) but {missing} do not exist: this host has {have} "
                f"GPU(s) (0-{have - 1}); pin GPUs among them",
                meta,
            )
        if len(req.gpu_ids) < tp:
            return GateResult(
                "gpu_count",
                False,
                "ERROR",
                f"tensor_parallel_size {tp} needs {tp} GPUs but the deployment is pinned "
                f"to {len(req.gpu_ids)}: pin {tp} GPUs or lower tensor_parallel_size",
                meta,
            )
    return GateResult(
        "gpu_count", True, "ERROR", f"{tp} GPU(s) needed for tensor_parallel_size {tp}, {have} on this host", meta
    )


def gpu_memory_gate(report: HardwareReport, req: GateRequirements) -> GateResult:
    gpus = [g for g in _selected_gpus(report, req) if g.memory_total_mib is not None]
    if not gpus:
        return GateResult(
            "gpu_memory", False, "ERROR", "no GPU memory size known for the selected GPUs: cannot check fit"
        )
    if req.max_model_len is None:
        return GateResult(
            "gpu_memory",
            False,
            "ERROR",
            f"max_model_len is not set in {req.params_file} and the model's config.json "
            "(max_position_embeddings, which vLLM would use) is not at hand yet: set "
            f"max_model_len in {req.params_file} so the KV cache can be checked before "
            "the weights are downloaded",
            {"max_model_len": None},
        )
    smallest = min(gpus, key=lambda g: g.memory_total_mib)
    total = smallest.memory_total_mib * MIB
    tp = req.tensor_parallel_size
    kv_split = min(tp, req.kv_heads) if req.kv_heads else tp
    weights_per_gpu = req.weights_bytes / tp
    kv_per_token = req.kv_bytes_per_token / kv_split
    budget = req.gpu_memory_utilization * total
    kv_room = budget - weights_per_gpu - req.runtime_overhead_bytes_per_gpu
    capacity_tokens = max(0, int(kv_room // kv_per_token))
    sequences = capacity_tokens / req.max_model_len
    needed = weights_per_gpu + req.runtime_overhead_bytes_per_gpu + kv_per_token * req.max_model_len
    utilization_needed = needed / total
    meta = {
        "gpu": smallest.index,
        "gpu_memory_total_bytes": total,
        "budget_bytes": int(budget),
        "weights_per_gpu_bytes": int(weights_per_gpu),
        "kv_bytes_per_token_per_gpu": kv_per_token,
        "runtime_overhead_bytes": req.runtime_overhead_bytes_per_gpu,
        "kv_capacity_tokens": capacity_tokens,
        "kv_capacity_full_sequences": round(sequences, 2),
        "gpu_memory_utilization_needed": round(utilization_needed, 3),
    }
    where = (
        f"GPU {smallest.index} ({smallest.name}, {smallest.memory_total_mib} MiB) with "
        f"tensor_parallel_size {tp} and gpu_memory_utilization {req.gpu_memory_utilization}"
    )
    if capacity_tokens >= req.max_model_len:
        return GateResult(
            "gpu_memory",
            True,
            "ERROR",
            f"fits on {where}: {weights_per_gpu / GIB:.1f} GiB weights per GPU, "
            f"KV cache for about {capacity_tokens} tokens = "
            f"{sequences:.1f} sequences of {req.max_model_len} (estimate)",
            meta,
        )
    if kv_room <= 0:
        advice = (
            f"the weights alone ({weights_per_gpu / GIB:.1f} GiB per GPU plus "
            f"{req.runtime_overhead_bytes_per_gpu / GIB:.0f} GiB runtime overhead) exceed "
            f"the budget of {budget / GIB:.1f} GiB: raise tensor_parallel_size, use GPUs "
            "with more memory or a smaller quantization"
        )
    else:
        advice = (
            f"KV cache holds about {capacity_tokens} tokens, less than one sequence of "
            f"max_model_len {req.max_model_len}: lower max_model_len to {capacity_tokens}"
        )
        advice += (
            f" or raise gpu_memory_utilization to {utilization_needed:.2f}"
            if utilization_needed <= 0.98
            else " or raise tensor_parallel_size"
        )
    return GateResult("gpu_memory", False, "ERROR", f"does not fit on {where}: {advice}", meta)


def foreign_processes(gpu: GpuFacts, ignore_pids: list[int]) -> list[GpuProcess]:
    """Compute processes on ``gpu`` that are not the deployment's own server."""
    return [p for p in gpu.compute_processes or [] if p.pid not in ignore_pids]


def gpu_idle_gate(report: HardwareReport, req: GateRequirements) -> GateResult:
    problems, meta = [], {}
    for gpu in _selected_gpus(report, req):
        foreign = foreign_processes(gpu, req.ignore_pids)
        # vLLM needs gpu_memory_utilization of the total free when it starts.
        allowed_mib = (1 - req.gpu_memory_utilization) * (gpu.memory_total_mib or 0)
        # The deployment's own kept server holds its share by design: only the rest counts.
        own_mib = sum(p.used_memory_mib or 0 for p in gpu.compute_processes or [] if p.pid in req.ignore_pids)
        used = max((gpu.memory_used_mib or 0) - own_mib, 0)
        meta[f"gpu_{gpu.index}"] = {
            "used_mib": used,
            "allowed_used_mib": int(allowed_mib),
            "foreign_pids": [p.pid for p in foreign],
        }
        if foreign:
            procs = ", ".join(f"pid {p.pid} ({p.used_memory_mib} MiB)" for p in foreign)
            problems.append(f"GPU {gpu.index} runs other compute processes: {procs}")
        if gpu.memory_total_mib and used > allowed_mib:
            problems.append(
                f"GPU {gpu.index} has {used} MiB in use, more than the "
                f"{int(allowed_mib)} MiB that gpu_memory_utilization "
                f"{req.gpu_memory_utilization} leaves"
            )
    if problems:
        return GateResult(
            "gpu_idle",
            False,
            "ERROR",
            "; ".join(problems) + ": stop those processes, pin other GPUs (runtime.docker.gpus, "
            "CUDA_VISIBLE_DEVICES), "
            "or lower gpu_memory_utilization",
            meta,
        )
    return GateResult("gpu_idle", True, "ERROR", "selected GPUs are free of other work", meta)


def pcie_link_gate(report: HardwareReport, req: GateRequirements) -> GateResult:
    gpus = _selected_gpus(report, req)
    ids = {g.index for g in gpus}
    pcie_pairs = [p for p in report.gpu_pairs if p.gpu_a in ids and p.gpu_b in ids and not p.over_nvlink]
    if req.tensor_parallel_size < 2 or len(gpus) < 2:
        return GateResult(
            "pcie_link",
            True,
            "WARN",
            f"no traffic between GPUs to check (tensor_parallel_size "
            f"{req.tensor_parallel_size}, {len(gpus)} GPU(s) on this host used)",
        )
    if not pcie_pairs:
        return GateResult("pcie_link", True, "WARN", "the selected GPUs talk over NVLink")
    # The current generation drops at idle to save power; the maximum is what the slot
    # trained to. The width does not power-manage, so a narrow current width is a fault.
    slow = [g for g in gpus if (g.pcie_gen_max or 0) < 4 or (g.pcie_width_current or 0) < 8]
    meta = {f"gpu_{g.index}": {"gen_max": g.pcie_gen_max, "width": g.pcie_width_current} for g in gpus}
    if slow:
        links = ", ".join(f"GPU {g.index} Gen{g.pcie_gen_max} x{g.pcie_width_current}" for g in slow)
        return GateResult(
            "pcie_link",
            False,
            "WARN",
            f"tensor parallelism runs over PCIe and {links} is below Gen4 x8: "
            "all-reduce will be slow; reseat the GPU or move it to a Gen4/Gen5 "
            "x16 slot (check the BIOS link speed), or use tensor_parallel_size 1",
            meta,
        )
    return GateResult("pcie_link", True, "WARN", "PCIe links are Gen4 x8 or better", meta)


def disk_space_gate(report: HardwareReport, req: GateRequirements) -> GateResult:
    host = report.host
    need = req.disk_bytes_needed or int(req.weights_bytes * 1.1)
    meta = {"weights_dir": host.weights_dir, "free_bytes": host.weights_dir_free_bytes, "needed_bytes": need}
    if req.weights_already_present:
        return GateResult("disk_space", True, "ERROR", "weights already on disk", meta)
    free = host.weights_dir_free_bytes
    if free is None:
        return GateResult(
            "disk_space", False, "ERROR", f"cannot read free space at {host.weights_dir}: check the path", meta
        )
    if free < need:
        return GateResult(
            "disk_space",
            False,
            "ERROR",
            f"{free / GIB:.1f} GiB free at {host.weights_dir}, the weights need "
            f"{need / GIB:.1f} GiB: free space or point the weights folder "
            "at a larger disk",
            meta,
        )
    return GateResult(
        "disk_space", True, "ERROR", f"{free / GIB:.1f} GiB free for {need / GIB:.1f} GiB of weights", meta
    )


def host_ram_gate(report: HardwareReport, req: GateRequirements) -> GateResult:
    # Loading goes through host RAM (safetensors pages, then copies to the GPU): about
    # twice the weights keeps it off swap. That is the "64 GB for a 30B model" rule.
    need = req.min_host_ram_bytes or 2 * req.weights_bytes
    have = report.host.mem_total_bytes
    meta = {"mem_total_bytes": have, "needed_bytes": need}
    if have is None or have < need:
        return GateResult(
            "host_ram",
            False,
            "WARN",
            f"host RAM {_gib(have)} is below {need / GIB:.0f} GiB (about twice "
            "the weights): loading may swap or be killed; add RAM or load on a "
            "larger host",
            meta,
        )
    return GateResult(
        "host_ram", True, "WARN", f"host RAM {_gib(have)} >= {need / GIB:.0f} GiB (about twice the weights)", meta
    )


def swap_gate(report: HardwareReport, req: GateRequirements) -> GateResult:
    swap = report.host.swap_total_bytes
    if not swap:
        return GateResult(
            "swap",
            False,
            "WARN",
            "no swap: a RAM spike while loading weights kills the process "
            "instead of slowing it; add a swap file (e.g. 16 GiB)",
            {"swap_total_bytes": swap},
        )
    return GateResult("swap", True, "WARN", f"swap {_gib(swap)}", {"swap_total_bytes": swap})


def shm_gate(report: HardwareReport, req: GateRequirements) -> GateResult:
    shm = report.host.shm_total_bytes
    if shm is None or shm < GIB:
        return GateResult(
            "shm",
            False,
            "WARN",
            f"/dev/shm is {_gib(shm)}: vLLM's workers exchange data through it; enlarge it (in Docker: --shm-size 16g)",
            {"shm_total_bytes": shm},
        )
    return GateResult("shm", True, "WARN", f"/dev/shm {_gib(shm)}", {"shm_total_bytes": shm})


GPU_GATES = [nvidia_driver_gate, driver_version_gate, gpu_count_gate, gpu_memory_gate, gpu_idle_gate, pcie_link_gate]
HOST_GATES = [disk_space_gate, host_ram_gate, swap_gate, shm_gate]
GATE_SEVERITY = {gate: "ERROR" for gate in GPU_GATES + HOST_GATES} | {
    pcie_link_gate: "WARN",
    host_ram_gate: "WARN",
    swap_gate: "WARN",
    shm_gate: "WARN",
}


def selected_gpus(report: HardwareReport, gpu_ids: list[int]) -> list[GpuFacts]:
    by_index = {g.index: g for g in report.gpus}
    return [by_index[i] for i in gpu_ids if i in by_index]


def _selected_gpus(report: HardwareReport, req: GateRequirements) -> list[GpuFacts]:
    # With fewer GPUs than tensor_parallel_size the other gates still judge the ones there.
    return selected_gpus(report, req.gpu_ids if req.gpu_ids is not None else list(range(req.tensor_parallel_size)))


def _version(text: str) -> tuple[int, ...]:
    parts = [int(p) for p in text.split(".") if p.isdigit()]
    return tuple(parts + [0] * (3 - len(parts)))


def _gib(value: int | None) -> str:
    return figure(value, ".1f", unit="GiB", per=GIB, absent="unknown")
