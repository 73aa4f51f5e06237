"""Why a vLLM server did not come up, from its whole log and, for a container, its state (pure).

The log alone does not tell everything: a container killed for memory shows only
``State.OOMKilled`` (its log just stops), a taken host port leaves the container ``created``
with the reason in ``State.Error``, and a start-up that hangs says nothing at all, so where
the log stopped (which phase) is the clue.
"""

from __future__ import annotations

import re
from dataclasses import replace

from resources.figures import figure
from resources.serving.startup_log import StartupReading, read_startup_log

# A log that stops inside a phase: what that phase waits on, and what to do.
STALLED_PHASE_HINTS = {
    "weights_loading": (
        "weights loading did not finish",
        "check the disk the weights are read from (throughput: `dd` or `fio` on that "
        "folder; network storage is the usual cause) and host RAM, or raise startup_timeout_s",
    ),
    "distributed_init": (
        "distributed (NCCL) initialisation hangs",
        "set NCCL_P2P_DISABLE=1 in the runtime env; check PCIe/P2P with `nvidia-smi topo -m` "
        "and that every GPU of the deployment is visible to the container",
    ),
    "torch_compile": (
        "torch.compile is still running",
        "a first compile takes about a minute on GPUs (a warm compile cache loads it in seconds): "
        "raise startup_timeout_s, or set enforce_eager: true to skip it",
    ),
    "kv_cache": (
        "the engine stopped while profiling memory and allocating the KV cache",
        "lower max_model_len or gpu_memory_utilization; watch GPU memory with nvidia-smi. If the "
        "engine is still busy there (a timeout, not a crash) on an FP8 model, DeepGEMM is most likely "
        "JIT-compiling its kernels (about 645 at 1.3 s each on an H200, 14 minutes): set "
        "VLLM_USE_DEEP_GEMM=0 in the runtime env, or raise startup_timeout_s and keep VLLM_CACHE_ROOT",
    ),
    "graph_capture": (
        "CUDA graph capture is still running",
        "capture takes 20-30 s on an H200 and longer with many capture sizes: raise "
        "startup_timeout_s, or set enforce_eager: true to skip it",
    ),
}
# What each compile-cache state means for the start (resources/serving/startup_log.py reads it).
COMPILE_CACHE_STATES = {
    "hit": "hit (the compiled graphs were loaded from the cache)",
    "miss": "miss (compiled, and saved to the cache for the next start)",
    "load_failed": "found but could not be loaded (compiled again: the cache does not help)",
    None: "not used (nothing was compiled, e.g. enforce_eager, or the log does not say)",
}
_PORT_TAKEN = re.compile(r"port is already allocated|address already in use|bind for .* failed", re.I)


def diagnose(log_text: str, state: dict | None = None, timed_out: bool = False) -> StartupReading:
    """The log's reading with the cause of a failed start: container state first (it is certain),
    then the log's root-cause line, then where the log stopped."""
    reading = read_startup_log(log_text)
    cause, hint, line = reading.cause, reading.hint, reading.root_cause_line
    from_state = diagnose_container_state(state or {})
    if from_state:
        cause, hint = from_state
        line = line if reading.cause else None
    elif cause is None and not reading.is_ready:
        stalled = diagnose_stall(reading) if (timed_out or reading.reached) else None
        if stalled:
            cause, hint = stalled
    return replace(reading, cause=cause, hint=hint, root_cause_line=line)


def diagnose_container_state(state: dict) -> tuple[str, str] | None:
    """Causes that only the container's ``State`` shows."""
    if state.get("OOMKilled"):
        return (
            "the container was killed for running out of memory (State.OOMKilled; its log just stops)",
            "give the container or host more RAM (loading a checkpoint needs about its size in host RAM), "
            "or lower what vLLM allocates: max_model_len, max_num_seqs, or kv_cache_memory_bytes on CPU",
        )
    error = state.get("Error") or ""
    if error and _PORT_TAKEN.search(error):
        return (
            f"the host port is taken: {error}",
            "stop whatever listens on that port (`docker ps`, `ss -ltnp`) or choose another runtime.port",
        )
    if error:
        return (
            f"Docker could not start the container: {error}",
            "check the image, mounts and GPU request (`docker inspect` shows the same State.Error)",
        )
    return None


def diagnose_stall(reading: StartupReading) -> tuple[str, str] | None:
    if not reading.reached:
        return (
            "the log shows no vLLM start-up phase at all",
            "check that the command runs vLLM (entrypoint, vllm_command) and read the log's first lines",
        )
    last = reading.reached[-1]
    if last in STALLED_PHASE_HINTS:
        cause, hint = STALLED_PHASE_HINTS[last]
        return f"{cause} (the log stops in phase {last})", hint
    return (
        f"the log stops after phase {last} without an error line",
        "read the log's last lines; a process killed from outside (OOM killer, docker stop) leaves no error",
    )


def format_diagnosis(diagnosis: StartupReading, tail: list[str] | None = None, source: str = "") -> str:
    """The one failure (or success) text for a start-up: phases with durations, cause, fix, log tail."""
    lines = []
    durations = diagnosis.phase_durations()
    if diagnosis.reached:
        lines.append("Phases reached:")
        for phase in diagnosis.reached:
            took = durations.get(phase)
            lines.append(f"  {phase:<28}{figure(took, '6.0f', unit='s', absent='')}")
        if durations:
            lines.append(f"  {'(first line to last phase)':<28}{sum(durations.values()):6.0f} s")
    else:
        lines.append("Phases reached: none")
    lines += engine_facts(diagnosis)
    if diagnosis.is_ready and not diagnosis.cause:
        lines.append("Outcome: the server became ready.")
    else:
        lines.append(f"Cause: {diagnosis.cause or 'not recognised'}")
        lines.append(f"Fix: {diagnosis.hint or 'read the last log lines below'}")
        if diagnosis.root_cause_line:
            lines.append(f"Root-cause line: {diagnosis.root_cause_line}")
    if tail:
        lines.append(f"Last log lines{f' ({source})' if source else ''}:")
        lines += [f"  {line}" for line in tail]
    return "\n".join(lines)


def engine_facts(reading: StartupReading) -> list[str]:
    """What the engine said about itself while starting: its compile cache, its KV-cache capacity,
    and how many error lines the log holds."""
    compiled = COMPILE_CACHE_STATES[reading.compile_cache]
    if reading.compile_s is not None:
        compiled += f"; torch.compile took {reading.compile_s:g} s"
    if reading.kv_cache_tokens is None:
        capacity = "not reported" + ("" if reading.is_ready else " (the log stops before the engine sized it)")
    else:
        capacity = f"{reading.kv_cache_tokens:,} tokens"
        if reading.max_concurrency is not None:
            capacity += (
                f", {reading.max_concurrency:g} requests of "
                f"{figure(reading.max_concurrency_tokens, ',.0f', absent='max_model_len')} tokens at once"
            )
    lines = [f"Compile cache: {compiled}", f"KV cache: {capacity}"]
    if reading.errors:
        lines.append(f"Error lines: {len(reading.errors)}")
    return lines
