"""Renders benchmark scenarios into ``vllm bench serve`` invocations (pure)."""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from pathlib import Path

from resources.config.models import BenchmarkScenario


@dataclass(frozen=True)
class LoadPoint:
    """One ``vllm bench serve`` invocation of a scenario: a scenario has one, a ladder or sweep several."""

    scenario: BenchmarkScenario
    name: str
    max_concurrency: int | None
    request_rate: float
    turn: int | None = None  # a multi-turn scenario's turn (1-based): sent by the project's own generator

    @property
    def group(self) -> str:
        return self.scenario.name


def expand_scenario(scenario: BenchmarkScenario) -> list[LoadPoint]:
    """A ladder gives points ``<name>/c<N>``, a rate sweep ``<name>/r<R>``, conversations a point per
    turn ``<name>/t<K>``, else the scenario itself."""
    if scenario.workload.kind == "multi_turn":
        return [
            LoadPoint(scenario, f"{scenario.name}/t{turn}", scenario.max_concurrency, math.inf, turn)
            for turn in range(1, scenario.workload.turns + 1)
        ]
    if scenario.concurrency_ladder is not None:
        return [
            LoadPoint(scenario, f"{scenario.name}/c{level}", level, scenario.request_rate)
            for level in scenario.concurrency_ladder.levels()
        ]
    if scenario.request_rates is not None:
        return [
            LoadPoint(scenario, f"{scenario.name}/r{_rate(rate)}", scenario.max_concurrency, rate)
            for rate in scenario.request_rates
        ]
    return [LoadPoint(scenario, scenario.name, scenario.max_concurrency, scenario.request_rate)]


def scenario_seed(point_name: str, run_id: str, pinned: int | str = "per_run") -> int:
    """The dataset seed: fixed if the config pins one, else derived from the run id.

    vLLM's random dataset defaults to seed 0, so every run would send the same prompts and a
    server that kept its prefix cache would answer from it. A per-run seed draws fresh prompts
    while a replay of the same run id draws the same ones.
    """
    if isinstance(pinned, int):
        return pinned
    return zlib.crc32(f"{run_id}:{point_name}".encode()) & 0x7FFFFFFF


def repetition_seed(point_name: str, run_id: str, pinned: int | str, repetition: int) -> int:
    """The seed of one repetition of a load point: the first is ``scenario_seed``'s, so a run without
    ``repeat`` sends what it always sent; each further one draws other prompts (a pinned seed
    counts up from the pinned value, so a replay still sends the same prompts)."""
    if repetition == 1:
        return scenario_seed(point_name, run_id, pinned)
    if isinstance(pinned, int):
        return pinned + repetition - 1
    return scenario_seed(f"{point_name}#{repetition}", run_id)


def _rate(rate: float) -> str:
    return "inf" if math.isinf(rate) else f"{rate:g}"


def trace_path(name: str) -> Path:
    """A trace file under the config folder's ``traces/``."""
    from resources.config.loader import config_dir

    return config_dir() / "traces" / f"{name}.jsonl"


def conversations_path(name: str) -> Path:
    """A conversation file under the config folder's ``conversations/``."""
    from resources.config.loader import config_dir

    return config_dir() / "conversations" / f"{name}.jsonl"


def dataset_args(scenario: BenchmarkScenario) -> list[str]:
    """The ``vllm bench serve`` dataset of the scenario's workload: vLLM's own generators, so the
    prompts (and the numbers) are vLLM's."""
    workload = scenario.workload
    if workload.kind == "shared_prefix":
        return [
            "--dataset-name", "prefix_repetition",
            "--prefix-repetition-prefix-len", str(workload.prefix_len),
            "--prefix-repetition-suffix-len", str(scenario.input_len - workload.prefix_len),
            "--prefix-repetition-num-prefixes", str(workload.num_prefixes),
            "--prefix-repetition-output-len", str(scenario.output_len),
        ]  # fmt: skip
    if workload.kind == "trace":
        return [
            "--dataset-name", "timed_trace",
            "--dataset-path", str(trace_path(workload.file)),
            "--timed-trace-sec-multiplier", f"{workload.time_scale:g}",
        ]  # fmt: skip
    return [
        "--dataset-name", "random",
        "--random-input-len", str(scenario.input_len),
        "--random-output-len", str(scenario.output_len),
    ]  # fmt: skip


def render_bench_args(
    point: LoadPoint,
    base_url: str,
    served_name: str,
    tokenizer: str,
    result_dir: str,
    result_filename: str,
    seed: int,
) -> list[str]:
    """The arguments after ``vllm bench serve`` for one load point."""
    scenario = point.scenario
    args = [
        "--backend",
        "vllm",
        "--base-url",
        base_url,
        "--model",
        served_name,
        "--tokenizer",
        tokenizer,
        *dataset_args(scenario),
        "--num-prompts",
        str(scenario.num_prompts),
        "--request-rate",
        _rate(point.request_rate),
        "--seed",
        str(seed),
        "--percentile-metrics",
        "ttft,tpot,itl,e2el",
        "--metric-percentiles",
        "50,99",
        "--save-result",
        "--result-dir",
        result_dir,
        "--result-filename",
        result_filename,
        "--disable-tqdm",
    ]
    if point.max_concurrency is not None:
        args += ["--max-concurrency", str(point.max_concurrency)]
    if scenario.warmups:
        args += ["--num-warmups", str(scenario.warmups)]
    if scenario.ignore_eos:
        args.append("--ignore-eos")
    if scenario.detailed:
        args.append("--save-detailed")
    if scenario.slo is not None:
        targets = [
            f"{metric}:{value:g}"
            for metric, value in (
                ("ttft", scenario.slo.ttft_ms),
                ("tpot", scenario.slo.tpot_ms),
                ("e2el", scenario.slo.e2el_ms),
            )
            if value is not None
        ]
        if targets:
            args += ["--goodput", *targets]
    return args
