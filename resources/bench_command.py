"""Renders a benchmark scenario into ``vllm bench serve`` arguments (pure)."""

from __future__ import annotations

import math
import zlib

from resources.config_models import BenchmarkScenario


def scenario_seed(scenario: BenchmarkScenario, run_id: str) -> int:
    """The dataset seed: fixed if the config pins one, else derived from the run id.

    vLLM's random dataset defaults to seed 0, so every run would send the same prompts and a
    server that kept its prefix cache would answer from it. A per-run seed draws fresh prompts
    while a replay of the same run id draws the same ones.
    """
    if isinstance(scenario.seed, int):
        return scenario.seed
    return zlib.crc32(f"{run_id}:{scenario.name}".encode()) & 0x7FFFFFFF


def render_bench_args(
    scenario: BenchmarkScenario,
    base_url: str,
    served_name: str,
    tokenizer: str,
    result_dir: str,
    result_filename: str,
    seed: int,
) -> list[str]:
    """The arguments after ``vllm bench serve``."""
    args = [
        "--backend", "vllm",
        "--base-url", base_url,
        "--model", served_name,
        "--tokenizer", tokenizer,
        "--dataset-name", "random",
        "--random-input-len", str(scenario.input_len),
        "--random-output-len", str(scenario.output_len),
        "--num-prompts", str(scenario.num_prompts),
        "--request-rate", "inf" if math.isinf(scenario.request_rate) else f"{scenario.request_rate:g}",
        "--seed", str(seed),
        "--percentile-metrics", "ttft,tpot,itl,e2el",
        "--metric-percentiles", "50,99",
        "--save-result",
        "--result-dir", result_dir,
        "--result-filename", result_filename,
        "--disable-tqdm",
    ]
    if scenario.max_concurrency is not None:
        args += ["--max-concurrency", str(scenario.max_concurrency)]
    if scenario.ignore_eos:
        args.append("--ignore-eos")
    return args
