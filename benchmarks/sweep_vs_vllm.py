"""The same parameter sweep through the pipeline and through ``vllm bench sweep serve``: wall times
and their ratio.

Both run the grid of a shipped sweep (default ``smollm2-cpu-batching``: four points) with one
fixed-load scenario measured once per point (its first fixed scenario, ``repeat`` 1), one server
per point, from the same converted weights and the same ``vllm serve`` and ``vllm bench serve``
arguments. The pipeline runs every point as a Dagster run of its own partition
(``python -m pipelines sweep run``: hardware report, image, weights, server, smoke test,
benchmark, results in DuckDB, then the report); vLLM's sweep starts each server, runs the
benchmark, resets the prefix cache and writes its summary. The weights are converted once before
either is timed, in the sweep's own EVAL_HOME under a temporary folder.

Prints each side's wall time and ``sweep pipeline/vllm: R``.

    .venv/bin/python benchmarks/sweep_vs_vllm.py [--sweep NAME] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

BENCH_SWEEP = "bench-grid"


def write_configs(root: Path, sweep: str) -> dict:
    """A copy of configs/ with ``bench-grid``: the sweep's grid, one fixed scenario measured once."""
    import yaml

    shutil.copytree(PROJECT_ROOT / "configs", root)
    spec = yaml.safe_load((root / "sweeps" / f"{sweep}.yaml").read_text())
    scenarios = (
        spec.get("benchmarks")
        or yaml.safe_load((root / "deployments" / f"{spec['base']}.yaml").read_text())["benchmarks"]
    )
    fixed = next(s for s in scenarios if "slo_search" not in s and "concurrency_ladder" not in s)
    spec["benchmarks"] = [{**fixed, "repeat": 1}]
    (root / "sweeps" / f"{BENCH_SWEEP}.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    return spec


def run(command: list[str], env: dict, log: Path) -> float:
    started = time.monotonic()
    with log.open("w") as out:
        done = subprocess.run(command, env=env, cwd=PROJECT_ROOT, stdout=out, stderr=subprocess.STDOUT)
    elapsed = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command[:6])} ... failed ({done.returncode}); its log: {log}")
    return elapsed


def vllm_sweep_command(work: Path, spec: dict, env: dict) -> tuple[list[str], dict]:
    """``vllm bench sweep serve`` over the same grid, serve line and benchmark arguments, and the
    server's environment from the deployment (as the pipeline gives it)."""
    os.environ.update({k: env[k] for k in ("EVAL_CONFIG_DIR", "EVAL_HOME")})
    from resources.benchmark.command import LoadPoint, render_bench_args
    from resources.config.loader import load_partition
    from resources.runtime.command_line import shell_join
    from resources.runtime.process import server_env
    from resources.serving.vllm_args import render_serve_args
    from resources.weights.fetch import planned_weights_path

    base = load_partition(spec["base"])
    base = base.model_copy(update={"spec": base.spec.model_copy(update={"runtime": base.runtime.model_copy(
        update={"port": spec.get("port", base.runtime.port)})})})  # fmt: skip
    point = load_partition(next(iter(_points(spec))))
    scenario = point.spec.benchmarks[0]
    # vLLM's CLI under the name `vllm`: the sweep resets the prefix cache between runs only for a
    # serve command whose program is called vllm.
    shim = work / "bin" / "vllm"
    shim.parent.mkdir(parents=True, exist_ok=True)
    shim.write_text(
        f'#!/bin/sh\nexport PYTHONPATH="{PROJECT_ROOT}${{PYTHONPATH:+:$PYTHONPATH}}"\n'
        f'exec {sys.executable} -m resources.serving.vllm_cli "$@"\n'
    )
    shim.chmod(0o755)
    serve = [str(shim), "serve", *render_serve_args(base, str(planned_weights_path(base)))]
    bench_args = render_bench_args(
        LoadPoint(scenario, scenario.name, scenario.max_concurrency, scenario.request_rate),
        base_url=f"http://127.0.0.1:{base.runtime.port}",
        served_name=base.served_model_name,
        tokenizer=str(planned_weights_path(base)),
        result_dir="-",
        result_filename="-",
        seed=0,
    )
    # The sweep adds its own result and percentile flags; the rest is the pipeline's command.
    drop = {"--save-result": 0, "--result-dir": 1, "--result-filename": 1, "--percentile-metrics": 1,
            "--metric-percentiles": 1, "--save-detailed": 0}  # fmt: skip
    kept, skip = [], 0
    for arg in bench_args:
        if skip:
            skip -= 1
        elif arg in drop:
            skip = drop[arg]
        else:
            kept.append(arg)
    (work / "serve-params.json").write_text(json.dumps(list(_points(spec).values())))
    return [
        str(shim), "bench", "sweep", "serve",
        "--serve-cmd", shell_join(serve),
        "--bench-cmd", shell_join([str(shim), "bench", "serve", *kept]),
        "--serve-params", str(work / "serve-params.json"),
        "--num-runs", "1",
        "--server-ready-timeout", str(int(base.runtime.startup_timeout_s)),
        "-o", str(work / "vllm-sweep"), "-e", "grid",
    ], server_env(base.runtime)  # fmt: skip


def print_throughputs(work: Path, env: dict) -> None:
    """Each point's output tok/s as both measured it: the same server, one run of 16 prompts each
    (a single run's spread on 2 cores is wide: compare orders of magnitude, not digits)."""
    import duckdb

    db = duckdb.connect(str(Path(env["EVAL_HOME"]) / "results.duckdb"), read_only=True)
    rows = db.execute(
        "SELECT r.sweep_settings, b.output_throughput FROM benchmark_results b JOIN runs r USING (run_id, partition) "
        "WHERE r.sweep = ? ORDER BY r.finished_at",
        [BENCH_SWEEP],
    ).fetchall()
    pipeline = {tuple(sorted(json.loads(settings).items())): value for settings, value in rows}
    print("output tok/s per point, pipeline | vllm bench sweep serve:")
    for summary in sorted((work / "vllm-sweep" / "grid").glob("*/summary.json")):
        record = json.loads(summary.read_text())[0]
        settings = tuple(sorted((k, record[k]) for k in json.loads((work / "serve-params.json").read_text())[0]))
        mine = pipeline.get(settings)
        print(
            f"  {dict(settings)}: {mine:.1f} | {record['output_throughput']:.1f}" if mine else f"  {dict(settings)}: -"
        )


def _points(spec: dict) -> dict:
    from resources.config.sweep import SweepFile, point_keys

    return point_keys(BENCH_SWEEP, SweepFile.model_validate(spec))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sweep", default="smollm2-cpu-batching", help="a sweep under configs/sweeps/")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs, results)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sweep-vs-vllm-"))
    spec = write_configs(work / "configs", args.sweep)
    env = os.environ | {
        "EVAL_CONFIG_DIR": str(work / "configs"),
        "EVAL_HOME": str(work / "eval"),
        "DAGSTER_HOME": str(work / "eval" / "dagster"),
        "PYTHONPATH": str(PROJECT_ROOT),
    }
    python = sys.executable
    first = next(iter(_points(spec)))
    print(f"grid of sweep '{args.sweep}': {len(_points(spec))} points; work folder {work}", flush=True)
    print("converting the weights once (not timed) ...", flush=True)
    run([python, "-m", "pipelines", "sweep", "run", BENCH_SWEEP, "--point", first], env, work / "warmup.log")
    run([python, "-m", "pipelines", "stop"], env, work / "stop.log")

    pipeline_s = run([python, "-m", "pipelines", "sweep", "run", BENCH_SWEEP], env, work / "pipeline.log")
    run([python, "-m", "pipelines", "stop"], env, work / "stop.log")
    print(f"pipeline (python -m pipelines sweep run): {pipeline_s:.1f} s", flush=True)
    for line in (work / "pipeline.log").read_text().splitlines():
        if line.startswith(("== [", "   steps:")) and ("succeeded" in line or "steps" in line):
            print(f"  {line.strip()}")

    command, server_vars = vllm_sweep_command(work, spec, env)
    cache = work / "vllm-cache"
    vllm_env = env | server_vars | {"VLLM_CACHE_ROOT": str(cache), "TORCHINDUCTOR_CACHE_DIR": str(cache / "inductor")}
    vllm_s = run(command, vllm_env, work / "vllm-sweep.log")
    print(f"vllm bench sweep serve: {vllm_s:.1f} s", flush=True)
    print_throughputs(work, env)
    print(f"sweep pipeline/vllm: {pipeline_s / vllm_s:.2f}")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
