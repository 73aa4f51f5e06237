"""Reads a vLLM server log: which start-up phases it reached, when, and why it failed.

Works on whole logs as ``vllm serve`` or ``docker logs`` print them. The root cause of a failed
start is usually an ``(EngineCore pid=N) ERROR ... <Exception>: ...`` line well above the last
lines, and some ``ERROR`` lines are harmless, so the diagnosis reads every line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

# (phase, markers): the first line containing any marker starts the phase, and the phase lasts
# until the next one starts. vLLM goes through them in this order on a GPU (weights, then
# torch.compile or loading its cached result, then KV-cache profiling, then CUDA graph capture);
# a CPU log has no graph capture, an eager start no torch_compile.
PHASE_MARKERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("api_server", ("non-default args:", "vLLM API server version")),
    ("engine_init", ("Initializing a V1 LLM engine",)),
    (
        "distributed_init",
        ("distributed_init_method=", "NCCL version", "world_size=", "vLLM is using nccl==", "in world size"),
    ),
    ("weights_loading", ("Starting to load model",)),
    ("weights_loaded", ("Loading weights took", "Model loading took")),
    (
        "torch_compile",
        (
            "for vLLM's torch.compile",
            "Dynamo bytecode transform",
            "Compiling a graph",
            "Warming up model for the compilation",
            "Directly load",
        ),
    ),
    # Compilation's last line starts the memory profile that sizes the KV cache.
    (
        "kv_cache",
        (
            "torch.compile took",
            "torch.compile takes",
            "Initial profiling/warmup run took",
            "Available KV cache memory",
            "KV cache size:",
        ),
    ),
    ("graph_capture", ("Capturing CUDA graph",)),
    ("engine_ready", ("init engine (profile, create kv cache, warmup model) took",)),
    ("ready", ("Starting vLLM server on", "Application startup complete")),
)

# vLLM's compile cache (under VLLM_CACHE_ROOT): a hit loads the compiled graphs, a miss compiles
# and saves them. Neither line: nothing was compiled (eager) or the log is too old to say.
_COMPILE_CACHE_HIT = re.compile(r"Directly load (?:the compiled graph|AOT compilation)")
# vLLM found its artifacts but could not load them, and compiled again: a cache that never helps.
_COMPILE_CACHE_LOAD_FAILED = re.compile(r"Compiling model again due to a load failure")
_COMPILE_CACHE_MISS = re.compile(r"Compiling a graph for|saved AOT compiled function|Cache the graph of compile")
_KV_TOKENS = re.compile(r"KV cache size: ([\d,]+) tokens")
_MAX_CONCURRENCY = re.compile(r"Maximum concurrency for ([\d,]+) tokens per request: ([\d.]+)x")
_COMPILE_SECONDS = re.compile(r"torch\.compile (?:took|takes) ([\d.]+) s in total")

_TIMESTAMP = re.compile(r"\b(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})\b")
_ERROR_LINE = re.compile(r"\bERROR\b.*?\b([A-Za-z_][\w.]*(?:Error|Exception)): (.*)$")
_EXCEPTION_LINE = re.compile(r"^\s*(?:\(\w+ pid=\d+\) )?([A-Za-z_][\w.]*(?:Error|Exception)): (.+)$")

# Known causes: (pattern in an error line, what it means, what to do).
KNOWN_CAUSES: tuple[tuple[re.Pattern, str, str], ...] = (
    (
        re.compile(r"max_model_len \(\d+\) is greater than the derived max_model_len", re.I),
        "max_model_len is longer than the model's context (max_position_embeddings in its config.json)",
        "lower max_model_len to at most the model's max_position_embeddings",
    ),
    (
        re.compile(r"CUDA out of memory|OutOfMemoryError", re.I),
        "the GPU ran out of memory while loading weights or allocating the KV cache",
        "lower max_model_len or gpu_memory_utilization, or raise tensor_parallel_size",
    ),
    # Recorded on an H200: a 31 GB model at gpu_memory_utilization 0.15 (21 GB) loads, then
    # the memory profile leaves nothing for the KV cache.
    (
        re.compile(r"No available memory for the cache blocks", re.I),
        "the weights and the profiling run take all of gpu_memory_utilization's share: nothing is left for "
        "the KV cache",
        "raise gpu_memory_utilization well above the weights' share of GPU memory (their size is in the log's "
        "'Model loading took' line), or raise tensor_parallel_size to split the weights",
    ),
    (
        re.compile(r"larger than the available KV cache memory", re.I),
        "the KV cache does not fit one sequence of max_model_len",
        "lower max_model_len, or raise gpu_memory_utilization / kv_cache_memory_bytes",
    ),
    (
        re.compile(r"No module named '?flashinfer", re.I),
        "vLLM's sampler imports FlashInfer, which is not installed with this vLLM build",
        "set VLLM_USE_FLASHINFER_SAMPLER=0 in the runtime env (vLLM then samples with its own kernels), "
        "or install the flashinfer package that matches this vLLM release",
    ),
    (
        re.compile(r"NCCL|ncclUnhandledCudaError|ncclSystemError", re.I),
        "NCCL failed while setting up tensor parallelism",
        "set NCCL_P2P_DISABLE=1 in the runtime env; check PCIe/P2P with `nvidia-smi topo -m`",
    ),
    (
        re.compile(r"Insufficient space in /dev/shm|No space left on device.*shm", re.I),
        "/dev/shm is too small for vLLM's shared memory",
        "raise the container's shm_size (e.g. 16g)",
    ),
    (
        re.compile(r"unrecognized arguments?:?\s*(.*)", re.I),
        "vLLM does not know an argument it was given",
        "remove or fix the argument named above (check it against `vllm serve --help` of this version)",
    ),
    (
        re.compile(r"Address already in use|error while attempting to bind", re.I),
        "the port is already taken by another process",
        "stop whatever listens on that port or choose another runtime.port",
    ),
    (
        re.compile(r"trust_remote_code|trust-remote-code", re.I),
        "the model needs code from its repository",
        "set trust_remote_code: true in the parameter set if you trust that repository",
    ),
)

# ERROR lines that do not stop vLLM.
HARMLESS_ERRORS = (re.compile(r"Read-only file system|Permission denied: '/root/.cache", re.I),)


@dataclass(frozen=True)
class Phase:
    name: str
    line_no: int
    timestamp: datetime | None


@dataclass
class StartupReading:
    phases: list[Phase] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    cause: str | None = None
    hint: str | None = None
    root_cause_line: str | None = None
    compile_cache: str | None = None  # "hit", "miss", "load_failed", or None when nothing was compiled
    compile_s: float | None = None  # vLLM's own "torch.compile took N s in total"
    kv_cache_tokens: int | None = None  # the engine's capacity, as it reported it
    max_concurrency: float | None = None  # sequences of max_model_len the KV cache holds
    max_concurrency_tokens: int | None = None  # the sequence length that figure is for (max_model_len)

    @property
    def reached(self) -> list[str]:
        return [p.name for p in self.phases]

    @property
    def is_ready(self) -> bool:
        return "ready" in self.reached

    def phase_durations(self) -> dict[str, float]:
        """Seconds from each phase's first line to the next phase's (vLLM logs whole seconds)."""
        durations = {}
        timed = [p for p in self.phases if p.timestamp is not None]
        for current, following in zip(timed, timed[1:]):
            durations[current.name] = (following.timestamp - current.timestamp).total_seconds()
        return durations


def _timestamp(line: str, year: int) -> datetime | None:
    match = _TIMESTAMP.search(line)
    if not match:
        return None
    month, day, hour, minute, second = map(int, match.groups())
    try:
        return datetime(year, month, day, hour, minute, second)
    except ValueError:
        return None


def read_startup_log(text: str, year: int = 2000) -> StartupReading:
    """Phases reached (first occurrence of each, in log order), error lines, and a diagnosis."""
    reading = StartupReading()
    seen: set[str] = set()
    last_time = None  # progress-bar lines (CUDA graph capture) carry no timestamp: use the last one seen
    for line_no, line in enumerate(text.splitlines(), start=1):
        last_time = _timestamp(line, year) or last_time
        for name, markers in PHASE_MARKERS:
            if name not in seen and any(marker in line for marker in markers):
                seen.add(name)
                reading.phases.append(Phase(name, line_no, last_time))
        if (
            " ERROR " in line or _ERROR_LINE.search(line) or _EXCEPTION_LINE.search(line) or "Traceback" in line
        ) and not any(pattern.search(line) for pattern in HARMLESS_ERRORS):
            reading.errors.append(line.strip())
    reading.phases.sort(key=lambda p: p.line_no)
    _read_engine_facts(reading, text)
    _diagnose(reading, text)
    return reading


def _read_engine_facts(reading: StartupReading, text: str) -> None:
    if _COMPILE_CACHE_LOAD_FAILED.search(text):
        reading.compile_cache = "load_failed"
    elif _COMPILE_CACHE_HIT.search(text):
        reading.compile_cache = "hit"
    elif _COMPILE_CACHE_MISS.search(text):
        reading.compile_cache = "miss"
    if match := _COMPILE_SECONDS.search(text):
        reading.compile_s = float(match.group(1))
    if match := _KV_TOKENS.search(text):
        reading.kv_cache_tokens = int(match.group(1).replace(",", ""))
    if match := _MAX_CONCURRENCY.search(text):
        reading.max_concurrency = float(match.group(2))
        reading.max_concurrency_tokens = int(match.group(1).replace(",", ""))


_FAILURE_LINE = re.compile(r"ERROR|Error|Exception|error:|Value error|Traceback|Killed")
_INFO_LINE = re.compile(r"\b(INFO|DEBUG|WARNING)\b")


def _diagnose(reading: StartupReading, text: str) -> None:
    # Only failure lines count: INFO lines echo the whole config, where words like
    # trust_remote_code or NCCL appear in healthy starts too.
    candidates = [
        line
        for line in text.splitlines()
        if _FAILURE_LINE.search(line)
        and not _INFO_LINE.search(line)
        and not any(h.search(line) for h in HARMLESS_ERRORS)
    ]
    for pattern, cause, hint in KNOWN_CAUSES:
        for line in candidates:
            if pattern.search(line):
                reading.cause, reading.hint, reading.root_cause_line = cause, hint, line.strip()
                named = pattern.search(line).groups()
                if named and named[0].strip():  # e.g. which argument vLLM did not recognise
                    reading.cause = f"{cause}: {named[0].strip()}"
                return
    # Unknown cause: the first exception line that names an exception type is the root cause;
    # later ones are usually the same failure re-raised by the API server.
    for line in candidates:
        match = _ERROR_LINE.search(line) or _EXCEPTION_LINE.search(line)
        if match:
            reading.cause = f"{match.group(1)}: {match.group(2).strip()}"
            reading.root_cause_line = line
            reading.hint = "see the root-cause line above; the log's last lines are usually its echo"
            return
