"""Runs one load point against the server and samples what happened beside it.

The only part of a benchmark run that touches the outside: ``vllm bench serve`` through the
deployment's runtime, vLLM's ``/metrics`` before, during and after, the host's CPU time and, where
this machine can read them, the serving GPUs' energy counters. What it returns is plain data;
reading and judging it is ``resources/results/point_result.py``.
"""

from __future__ import annotations

import json
import os
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from resources.benchmark.command import LoadPoint, conversations_path, render_bench_args
from resources.benchmark.host_usage import Cgroup, Sampler, Snapshot
from resources.hardware.energy import EnergySamples
from resources.serving.server_metrics import fetch_metrics
from resources.serving.server_peaks import ServerPeaks
from resources.serving.server_side import server_side_delta

if TYPE_CHECKING:  # the runtimes run benchmarks through this package: named here for the types only
    from resources.runtime.base import Runtime
    from resources.runtime.values import ServiceInfo


@dataclass(frozen=True)
class PointRun:
    """One ``vllm bench serve`` call of a load point: what it saved, and what was measured beside it."""

    point: LoadPoint
    seed: int
    bench_args: list[str]
    result_file: Path
    raw: dict  # the JSON ``vllm bench serve --save-result`` wrote
    host_samples: list[Snapshot]  # the host's and the measured process trees' CPU time, sampled
    energy: EnergySamples | None  # the serving GPUs' energy counters; None where none could be read
    server_side: dict  # vLLM's own counters over the point (server_side.server_side_delta)
    server_peaks: dict  # the highest of vLLM's gauges while it ran (server_peaks.highest)


def measured_trees(runtime: Runtime, service: ServiceInfo) -> dict[str, int | Cgroup | None]:
    """What is the measurement itself: the server (its process tree, or its container's control
    group; None where this machine cannot see it) and this process's tree, which runs the load
    generator. The same for every load point: found once (for a container, a question to its engine)."""
    return {"server": runtime.server_cpu_source(service), "load_generator": os.getpid()}


def measure_point(
    runtime: Runtime,
    service: ServiceInfo,
    tokenizer: str,
    api_key: str | None,
    trees: dict[str, int | Cgroup | None],
    point: LoadPoint,
    result_file: Path,
    seed: int,
    *,
    label: str,
    log: Callable[[str], None],
    context=None,
) -> PointRun:
    """Runs ``point`` once, writing its result to ``result_file`` (and the energy samples beside it
    when there are any). ``context``: the Dagster context, for a runtime that runs the load
    generator through Dagster Pipes."""
    if point.turn is not None:
        args = conversation_args(point)
        log(f"{label}: multi-turn load generator {' '.join(args)}")
    else:
        args = render_bench_args(
            point,
            service.base_url,
            service.served_model_name,
            tokenizer,
            str(result_file.parent),
            result_file.name,
            seed,
        )
        log(f"{label}: vllm bench serve {' '.join(args)}")
    metrics_before = fetch_metrics(service.base_url, api_key)
    meter = runtime.energy_meter()
    with meter or nullcontext(), Sampler(trees) as sampler, ServerPeaks(service.base_url, api_key) as peaks:
        if point.turn is not None:
            raw = send_turn(point, service, api_key, result_file)
        else:
            raw = runtime.run_benchmark(
                service,
                args,
                result_file,
                on_line=lambda line: _progress(line, meter),
                env={"OPENAI_API_KEY": api_key} if api_key else None,
                context=context,
            )
    server_side = server_side_delta(metrics_before, fetch_metrics(service.base_url, api_key))
    if meter is not None:
        meter.save(result_file.with_suffix(".energy.json"))
    return PointRun(
        point=point,
        seed=seed,
        bench_args=args,
        result_file=result_file,
        raw=raw,
        host_samples=list(sampler.samples),
        energy=meter.recorded if meter is not None else None,
        server_side=server_side,
        server_peaks=peaks.as_row(),
    )


def conversation_args(point: LoadPoint) -> list[str]:
    """How a multi-turn point is recorded (``bench_args``): its conversations, turn and load."""
    workload = point.scenario.workload
    return [
        "--conversations", str(conversations_path(workload.file)),
        "--turn", str(point.turn),
        "--num-conversations", str(point.scenario.num_prompts),
        "--max-concurrency", str(point.max_concurrency or point.scenario.num_prompts),
        "--max-tokens", str(point.scenario.output_len),
    ]  # fmt: skip


def send_turn(point: LoadPoint, service: ServiceInfo, api_key: str | None, result_file: Path) -> dict:
    """One turn of the scenario's conversations through the project's generator; the histories come
    from the previous turn's file beside the results and go on to the next."""
    from resources.benchmark.multi_turn import read_conversations, run_turn

    scenario = point.scenario
    conversations = read_conversations(conversations_path(scenario.workload.file))[: scenario.num_prompts]
    state = result_file.parent / f"{scenario.name}_histories.json"
    histories = json.loads(state.read_text()) if point.turn > 1 and state.exists() else {}
    raw, histories = run_turn(
        service.base_url,
        service.served_model_name,
        api_key,
        conversations,
        histories,
        point.turn,
        scenario.output_len,
        point.max_concurrency or scenario.num_prompts,
    )
    previous = result_file.with_name(result_file.name.replace(f"_t{point.turn}", f"_t{point.turn - 1}"))
    raw["leading_repeats"] = carried_history(previous) if point.turn > 1 else None
    result_file.parent.mkdir(parents=True, exist_ok=True)
    state.write_text(json.dumps(histories))
    result_file.write_text(json.dumps(raw))
    return raw


def carried_history(previous_result: Path) -> list[int] | None:
    """Per conversation, the tokens of its previous turn's prompt and reply (the server's counts):
    the start of this turn's prompt, which the prefix cache may serve."""
    if not previous_result.exists():
        return None
    before = json.loads(previous_result.read_text())
    return [sent + replied for sent, replied in zip(before["input_lens"], before["output_lens"])]


def _progress(line: str, meter=None) -> None:
    # vLLM prints its full argument namespace at start; the summary block is what users read.
    # The lines go to the step's captured stdout (the run's stdout log in the UI, the terminal
    # under `dagster job execute`), not one Dagster event each: an event is a SQLite write
    # (about 10 ms here) and a concurrency ladder prints hundreds of lines while it is measured.
    if meter is not None:
        meter.note_line(line)
    if line and not line.startswith("Namespace("):
        print(line, flush=True)
