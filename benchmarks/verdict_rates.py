"""How often the regression rule cries wolf, and how often it catches a real slowdown, on
recorded real runs (``tests/fixtures/bench_history/``, see its README).

- false positives: every recorded unchanged run, judged in recording order against the runs
  before it, exactly as the no_regression check judges a new run; any metric called "slower"
  (or "faster") on an unchanged run is a false call;
- detection: each valid recorded run that has at least ``--min-baseline`` valid runs before it is
  planted with a slowdown (every time ×(1+s), every throughput ÷(1+s)) and a new vLLM version,
  then judged against the real runs before it; caught = some metric called "slower" with the
  vLLM version among the suspects.

    python benchmarks/verdict_rates.py --series warm-unchanged       # vLLM's CPU build, this 2-core host
    python benchmarks/verdict_rates.py --series h200-c16-unchanged   # vLLM's GPU build, one H200
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from resources.config.models import RegressionPolicy  # noqa: E402
from resources.results.bench_json import parse_bench_result, parse_request_rows  # noqa: E402
from resources.results.regression import FASTER, SLOWER, judge_recorded  # noqa: E402
from resources.results.store import ResultsStore  # noqa: E402
from resources.results.validity import judge_validity  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "bench_history"
START = datetime(2026, 12, 1, 2, 0)
SCENARIO = "short-burst"
HARDWARE = "cpu: recorded host"
CPU_VLLM_VERSION = "0.32.0+cpu"
# What each recorded series ran on, as the pipeline would record it (hardware model, vLLM version).
SERIES_FACTS = {"h200-": ("gpu: NVIDIA H200 x1", "0.24.0")}


def load_series(prefix: str) -> list[dict]:
    """The recorded results whose file names start with ``prefix``, in recording order."""
    return [json.loads(p.read_text()) for p in sorted(FIXTURES.glob(f"{prefix}*.json"))]


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


IGNORE_HOST = False  # --ignore-host-usage: judge validity without the host measurements


def series_facts(prefix: str) -> tuple[str, str]:
    """The hardware model and vLLM version a recorded series ran with."""
    return next((facts for start, facts in SERIES_FACTS.items() if prefix.startswith(start)),
                (HARDWARE, CPU_VLLM_VERSION))


def next_version(version: str) -> str:
    """The planted "upgrade": the next minor release (0.32.0+cpu -> 0.33.0+cpu)."""
    major, minor, rest = version.split(".", 2)
    return f"{major}.{int(minor) + 1}.{rest}"


def record(store: ResultsStore, raw: dict, *, partition: str, run_id: str, finished_at: datetime,
           vllm_version: str = CPU_VLLM_VERSION, hardware: str = HARDWARE,
           first_load_after_start: bool | None = None) -> dict:
    """One recorded result as the pipeline records a run: provenance, validity (with the host
    usage measured while it was recorded), per-request rows. Returns the result row."""
    parsed = parse_bench_result(raw)
    requests = parse_request_rows(raw)
    validity = judge_validity(parsed, requests, None if IGNORE_HOST else raw.get("host_usage"))
    run = {"run_id": run_id, "partition": partition, "status": "succeeded", "started_at": finished_at,
           "finished_at": finished_at, "hardware_model": hardware, "hardware_fingerprint": "recorded",
           "image_ref": "vllm-cpu", "image_digest": "local:vllm-cpu", "vllm_version": vllm_version,
           "weights_revision": "generated", "config_hash": "cfg", "device": "cpu", "model_id": "tiny",
           "gpu_count": 0, "tensor_parallel_size": 1, "origin": "pipeline"}
    row = {"run_id": run_id, "partition": partition, "scenario": SCENARIO, **parsed, "scenario_group": SCENARIO,
           "input_len": raw["input_lens"][0], "output_len": raw["output_lens"][0],
           "num_prompts": raw.get("num_prompts"), "metric_definitions": "vllm",
           "first_load_after_start": first_load_after_start,
           **validity.as_row(), **{k: v for k, v in (raw.get("host_usage") or {}).items() if k != "cpu_count"}}
    store.record_run(run, [row], [{"run_id": run_id, "partition": partition, "scenario": SCENARIO, **r}
                                  for r in requests])
    return row


def record_history(store: ResultsStore, series: list[dict], partition: str, **facts) -> list[str]:
    """Each run of ``series`` recorded a day after the one before; ``facts``: ``record``'s
    ``vllm_version`` and ``hardware``."""
    run_ids = []
    for i, raw in enumerate(series):
        run_ids.append(f"{partition}-{i:02d}")
        record(store, raw, partition=partition, run_id=run_ids[-1], finished_at=START + timedelta(days=i), **facts)
    return run_ids


def false_calls(series: list[dict], policy: RegressionPolicy, folder: Path, hardware: str, version: str) -> dict:
    store = ResultsStore(folder / "unchanged.duckdb")
    run_ids = record_history(store, series, "unchanged", hardware=hardware, vllm_version=version)
    outcomes = {}
    for run_id in run_ids:
        verdicts = judge_recorded(store, "unchanged", run_id, policy.thresholds, policy.window).verdicts
        outcomes[run_id] = sorted({v.outcome for v in verdicts})
    judged = [r for r, o in outcomes.items() if o and o != ["invalid"] and o != ["no baseline"]]
    return {"runs": len(run_ids), "judged": len(judged),
            "slower": sum(SLOWER in outcomes[r] for r in judged), "faster": sum(FASTER in outcomes[r] for r in judged),
            "outcomes": outcomes}


def detection(series: list[dict], slowdown: float, policy: RegressionPolicy, folder: Path,
              min_baseline: int, hardware: str, version: str) -> dict:
    store = ResultsStore(folder / f"planted-{slowdown:g}.duckdb")
    trials = caught = named = 0
    outcomes = []
    for k in range(len(series)):
        partition = f"trial-{k:02d}"
        earlier = [record(store, raw, partition=partition, run_id=f"{partition}-{i:02d}",
                          finished_at=START + timedelta(days=i), hardware=hardware, vllm_version=version)
                   for i, raw in enumerate(series[:k])]
        if sum(bool(r["valid"]) for r in earlier) < min_baseline:
            continue
        row = record(store, plant_slowdown(series[k], slowdown), partition=partition, run_id=f"{partition}-planted",
                     finished_at=START + timedelta(days=k), hardware=hardware, vllm_version=next_version(version))
        if not row["valid"]:
            continue
        trials += 1
        judgement = judge_recorded(store, partition, f"{partition}-planted", policy.thresholds, policy.window)
        slower = judgement.regressions
        caught += bool(slower)
        named += any(f"vLLM version {version} -> {next_version(version)}" in s for v in slower for s in v.suspects)
        outcomes.append(sorted({v.outcome for v in judgement.verdicts}))
    return {"slowdown": slowdown, "trials": trials, "caught": caught, "named_vllm": named, "outcomes": outcomes}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--series", default="warm-unchanged", help="file name prefix of the unchanged runs")
    parser.add_argument("--min-baseline", type=int, default=3)
    parser.add_argument("--ignore-host-usage", action="store_true",
                        help="accept runs that other work on the host competed with (to see the rule on noisy runs)")
    args = parser.parse_args()
    global IGNORE_HOST
    IGNORE_HOST = args.ignore_host_usage
    policy = RegressionPolicy()
    series = load_series(args.series)
    hardware, version = series_facts(args.series)
    folder = Path(tempfile.mkdtemp(prefix="verdict-rates-"))
    print(f"policy: window {policy.window}, thresholds {policy.thresholds}; series {args.series}: {len(series)} runs")
    fp = false_calls(series, policy, folder, hardware, version)
    for run_id, outcomes in fp["outcomes"].items():
        print(f"  {run_id}: {', '.join(outcomes)}")
    print(f"false positives: {fp['slower']} 'slower' and {fp['faster']} 'faster' calls over {fp['judged']} judged "
          f"unchanged runs ({fp['runs']} recorded; the others invalid or without a baseline)")
    for slowdown in (0.10, 0.20, 0.30):
        found = detection(series, slowdown, policy, folder, args.min_baseline, hardware, version)
        rate = found["caught"] / found["trials"] if found["trials"] else float("nan")
        print(f"planted {slowdown:.0%} slowdown: caught {found['caught']} of {found['trials']} ({rate:.0%}), "
              f"vLLM version named in {found['named_vllm']}; outcomes: "
              + "; ".join(",".join(o) for o in found["outcomes"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
