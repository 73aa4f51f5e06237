"""How far a decode rate is from what the GPU's memory allows (pure arithmetic).

At small batch, every decode step reads all active weights once, so one sequence cannot get
more tokens per second than memory bandwidth / bytes read per token (active parameters x bytes
per weight, plus the KV cache it attends over when that is known). Tensor parallelism splits the
weights over the GPUs, so the bound is multiplied by the TP size (communication is ignored: the
real ceiling is a little lower). A larger batch reads the weights once for all its sequences, so
the bound still holds per sequence; well below it at high concurrency means compute-bound or
scheduling overhead, not a broken deployment.

Example (DESIGN.md): Qwen3-30B-A3B in FP8, 3.3 B active parameters x 1 byte, on one H100 SXM
(3.35 TB/s): 3.35e12 / 3.3e9 = about 1015 tokens/s per sequence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from resources.figures import missing

# Peak memory bandwidth per GPU in TB/s (10^12 bytes/s), from NVIDIA's product datasheets:
# H100 and H100 NVL (nvidia.com/en-us/data-center/h100: SXM 3.35 TB/s, PCIe 2 TB/s, NVL 3.9 TB/s),
# H200 (nvidia.com/en-us/data-center/h200: SXM and NVL 4.8 TB/s), A100 (nvidia.com/en-us/data-center/a100:
# 80GB SXM 2,039 GB/s, 80GB PCIe 1,935 GB/s, 40GB 1,555 GB/s), B200 (HGX B200: 8 TB/s per GPU),
# L40S and L40 (864 GB/s), L4 (300 GB/s), A10 (600 GB/s), GeForce RTX 4090 (1,008 GB/s),
# RTX 3090 (936 GB/s), RTX 6000 Ada (960 GB/s), RTX A6000 (768 GB/s).
# Keys are regular expressions over the NVML name (lower case, "nvidia " removed), most specific
# first: NVML calls the SXM H100 "NVIDIA H100 80GB HBM3" and the PCIe card "NVIDIA H100 PCIe".
GPU_MEMORY_BANDWIDTH_TBPS: tuple[tuple[str, str, float], ...] = (
    (r"\bb200\b", "B200", 8.0),
    (r"\bh200\b", "H200", 4.8),
    (r"\bh100\b.*\bnvl\b", "H100 NVL", 3.9),
    (r"\bh100\b.*\bpcie\b", "H100 PCIe", 2.0),
    (r"\bh100\b", "H100 SXM", 3.35),
    (r"\ba100\b.*80\s*gb.*pcie|\ba100\b.*pcie.*80\s*gb", "A100 80GB PCIe", 1.935),
    (r"\ba100\b.*80\s*gb", "A100 80GB SXM", 2.039),
    (r"\ba100\b", "A100 40GB", 1.555),
    (r"\bl40s\b", "L40S", 0.864),
    (r"\bl40\b", "L40", 0.864),
    (r"\bl4\b", "L4", 0.300),
    (r"\ba10\b", "A10", 0.600),
    (r"\brtx 4090\b", "RTX 4090", 1.008),
    (r"\brtx 3090\b", "RTX 3090", 0.936),
    (r"\brtx 6000 ada\b", "RTX 6000 Ada", 0.960),
    (r"\brtx a6000\b", "RTX A6000", 0.768),
)


def gpu_bandwidth(gpu_model: str | None) -> tuple[str, float] | None:
    """(table name, TB/s) for an NVML GPU name such as "NVIDIA H100 80GB HBM3"; None if unknown."""
    if not gpu_model:
        return None
    name = gpu_model.lower().replace("nvidia ", "").replace("geforce ", "").replace("-", " ")
    for pattern, label, tbps in GPU_MEMORY_BANDWIDTH_TBPS:
        if re.search(pattern, name):
            return label, tbps
    return None


def decode_bound_tok_s(
    bandwidth_tbps: float,
    active_params_b: float,
    bytes_per_param: float,
    tensor_parallel_size: int = 1,
    kv_bytes_per_token: float = 0.0,
) -> float:
    """Upper bound on tokens/s for one sequence: bandwidth x TP / bytes read per token."""
    bytes_per_token = active_params_b * 1e9 * bytes_per_param + kv_bytes_per_token
    return bandwidth_tbps * 1e12 * max(tensor_parallel_size, 1) / bytes_per_token


@dataclass(frozen=True)
class Bound:
    """The bound for one result, or why there is none (``note``)."""

    gpu: str | None
    bandwidth_tbps: float | None
    bound_tok_s: float | None
    measured_tok_s: float | None
    note: str

    @property
    def fraction(self) -> float | None:
        if self.bound_tok_s is None or self.measured_tok_s is None:
            return None
        return self.measured_tok_s / self.bound_tok_s

    def label(self) -> str:
        """ "49%" or the reason there is no number, e.g. "n/a (no GPU)"."""
        fraction = self.fraction
        return f"{fraction:.0%}" if fraction is not None else f"n/a ({self.note})"


def result_bound(
    *,
    device: str | None,
    gpu_model: str | None,
    tensor_parallel_size: int | None,
    active_params_b: float | None,
    bytes_per_param: float | None,
    mean_tpot_ms: float | None,
    kv_bytes_per_token: float | None = None,
) -> Bound:
    """The decode bound for one benchmark result; measured rate = 1000 / mean TPOT ms.

    There is no bandwidth figure for a CPU host here, so CPU results get "n/a (no GPU)" rather
    than a made-up number; an unknown GPU or a model without recorded size says so too.
    """
    measured = None if missing(mean_tpot_ms) or not mean_tpot_ms > 0 else 1000.0 / mean_tpot_ms
    if device == "cpu" or missing(gpu_model):
        return Bound(None, None, None, measured, "no GPU")
    known = gpu_bandwidth(gpu_model)
    if known is None:
        return Bound(gpu_model, None, None, measured, f"{gpu_model} not in the bandwidth table")
    label, tbps = known
    if missing(active_params_b) or missing(bytes_per_param) or not active_params_b > 0:
        return Bound(label, tbps, None, measured, "model size not recorded")
    tp = 1 if missing(tensor_parallel_size) else int(tensor_parallel_size)
    kv = 0.0 if missing(kv_bytes_per_token) else float(kv_bytes_per_token)
    bound = decode_bound_tok_s(tbps, float(active_params_b), float(bytes_per_param), tp, kv)
    return Bound(label, tbps, bound, measured, "" if measured is not None else "no TPOT measured")
