"""Energy per output token from NVML's energy counter, over a benchmark's own window.

NVML's ``nvmlDeviceGetTotalEnergyConsumption`` counts millijoules since the driver loaded, on
Volta and later. ``EnergyMeter`` samples it for the serving GPUs in a background thread while
``vllm bench serve`` runs; the window is the benchmark's measured duration ending when the tool
printed its result block (its own start-up and warm-up requests are left out), and the
arithmetic below is pure so a recording of the samples gives the same figures anywhere. On a
host without NVIDIA's driver, or a GPU without the counter, there is no meter: energy is n/a.
"""

from __future__ import annotations

import bisect
import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

SAMPLE_INTERVAL_S = 0.1
# ``vllm bench serve`` prints this line as soon as the measured requests are done.
RESULT_BLOCK = "Serving Benchmark Result"


@dataclass
class EnergySamples:
    """(wall-clock seconds, [millijoules per GPU]) pairs, and when the result block was printed."""

    gpus: list[int]
    samples: list[tuple[float, list[int]]] = field(default_factory=list)
    result_printed_at: float | None = None

    def as_dict(self) -> dict:
        return {
            "gpus": self.gpus,
            "samples": [[t, mj] for t, mj in self.samples],
            "result_printed_at": self.result_printed_at,
        }

    @classmethod
    def from_dict(cls, data: dict) -> "EnergySamples":
        return cls(list(data["gpus"]), [(t, list(mj)) for t, mj in data["samples"]], data.get("result_printed_at"))


def counter_at(samples: list[tuple[float, list[int]]], at: float) -> float:
    """Joules summed over the GPUs at time ``at``, interpolated between the two nearest samples."""
    times = [t for t, _ in samples]
    if not samples or at < times[0] or at > times[-1]:
        raise ValueError(
            f"time {at:.3f} lies outside the sampled span "
            f"{times[0] if times else 'none'}..{times[-1] if times else 'none'}"
        )
    right = min(bisect.bisect_left(times, at), len(samples) - 1)
    left = max(right - 1, 0)
    (t0, e0), (t1, e1) = samples[left], samples[right]
    j0, j1 = sum(e0) / 1000, sum(e1) / 1000
    if t1 == t0:
        return j1
    return j0 + (j1 - j0) * (at - t0) / (t1 - t0)


def energy_per_token(recorded: EnergySamples, duration_s: float, output_tokens: int) -> dict[str, float] | None:
    """Energy, mean power and joules per output token over the benchmark window (pure).

    The window is ``duration_s`` (the benchmark's own, from its result) ending when the result
    block was printed; without that moment, it ends at the last sample. None when the samples
    do not cover the window.
    """
    if not recorded.samples or duration_s <= 0 or output_tokens <= 0:
        return None
    end = recorded.result_printed_at or recorded.samples[-1][0]
    end = min(end, recorded.samples[-1][0])
    start = end - duration_s
    try:
        joules = counter_at(recorded.samples, end) - counter_at(recorded.samples, start)
    except ValueError:
        return None
    return {"energy_j": joules, "mean_power_w": joules / duration_s, "joules_per_output_token": joules / output_tokens}


def serving_gpus(env: dict[str, str]) -> list[int] | None:
    """NVML indices of the GPUs the server sees: CUDA_VISIBLE_DEVICES (numeric) or all of them."""
    visible = env.get("CUDA_VISIBLE_DEVICES", os.environ.get("CUDA_VISIBLE_DEVICES"))
    if visible is None or visible.strip() == "":
        return None
    try:
        return [int(part) for part in visible.split(",") if part.strip()]
    except ValueError:  # GPU UUIDs: measure every GPU rather than guess
        return None


class EnergyMeter:
    """Samples the energy counters of ``gpus`` (None: every GPU) in a thread, as a context manager.

    ``EnergyMeter.open(...)`` returns None where NVML or the counter is missing: the caller then
    records energy as n/a rather than failing the benchmark.
    """

    def __init__(self, handles: list, gpus: list[int]) -> None:
        self._handles = handles
        self.recorded = EnergySamples(gpus)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="nvml-energy", daemon=True)

    @classmethod
    def open(cls, gpus: list[int] | None) -> "EnergyMeter | None":
        try:
            import pynvml

            pynvml.nvmlInit()
            indices = gpus if gpus is not None else list(range(pynvml.nvmlDeviceGetCount()))
            handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in indices]
            for handle in handles:
                pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)
        except Exception:  # no driver, no GPU, or no counter on this GPU: energy is n/a
            return None
        if not handles:
            return None
        return cls(handles, indices)

    def _sample(self) -> None:
        import pynvml

        reading = [int(pynvml.nvmlDeviceGetTotalEnergyConsumption(h)) for h in self._handles]
        self.recorded.samples.append((time.time(), reading))

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_INTERVAL_S):
            self._sample()

    def note_line(self, line: str) -> None:
        """Feed the benchmark's output lines: the result block's first line ends the window."""
        if self.recorded.result_printed_at is None and RESULT_BLOCK in line:
            self.recorded.result_printed_at = time.time()

    def __enter__(self) -> "EnergyMeter":
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.recorded.as_dict()))
