"""What the pipeline costs on top of the work it orchestrates, measured: ``make bench``.

For one CPU deployment (default ``tiny-cpu-eager``), on this machine, in one run:

  (a) the recipe by hand: ``vllm serve`` with the deployment's arguments, wait for ``/health``,
      ``vllm bench serve`` with the deployment's scenario, stop the server;
  (b) the pipeline cold: ``dagster job execute ... deploy_and_evaluate`` on a fresh EVAL_HOME
      (the generated model copied in beforehand, as a user's disk would already hold weights);
  (c) the pipeline warm: the same command again, which finds the server healthy and the image
      and the weights unchanged.

It prints the wall times, b/a and c/a, and where the pipeline's extra time goes. Everything runs
in a private folder, on a private copy of ``configs/`` whose ports are 8310 and up, so a user's
servers are neither reused nor disturbed. A script that prints figures, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from benchmarks.overhead_parts import (  # noqa: E402
    CHAIN, RunTimeline, duckdb_write_costs, event_write_cost, import_costs, load_snapshot, read_timeline,
)

HEALTH_POLL_S = 0.1  # the recipe polls as often as the pipeline does


def private_configs(folder: Path, partition: str, port: int) -> Path:
    """A copy of ``configs/`` with every deployment moved to a port of its own from ``port`` up."""
    import yaml

    configs = folder / "configs"
    shutil.copytree(PROJECT_ROOT / "configs", configs)
    others = port + 1
    for path in sorted((configs / "deployments").glob("*.yaml")):
        data = yaml.safe_load(path.read_text())
        runtime = data.setdefault("runtime", {})
        if path.stem == partition:
            runtime["port"] = port
        else:
            runtime["port"], others = others, others + 1
        path.write_text(yaml.safe_dump(data, sort_keys=False))
    return configs


class HealthProbe:
    """Polls ``/health`` every 10 ms from a thread: when the server really became healthy."""

    def __init__(self, base_url: str):
        self.base_url, self.healthy_at = base_url, None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            if _healthy(self.base_url, 0.5):
                self.healthy_at = time.time()
                return
            time.sleep(0.01)

    def stop(self):
        self._stop.set()
        self._thread.join()


def wait_port_free(host: str, port: int, timeout_s: float = 60.0) -> None:
    """Every measurement starts with nothing on the port: not a leftover server, not one shutting down."""
    import socket

    deadline = time.monotonic() + timeout_s
    while True:
        with socket.socket() as probe:
            if probe.connect_ex((host, port)) != 0:
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"port {port} on {host} is still in use; stop what holds it (`ss -ltnp`)")
        time.sleep(0.2)


def _healthy(base_url: str, timeout: float) -> bool:
    try:
        with urllib.request.urlopen(f"{base_url}/health", timeout=timeout) as response:
            return response.status == 200
    except OSError:
        return False


def bench_points(deployment) -> list:
    """What the pipeline benchmarks: each scenario, or each load point where scenarios expand into several."""
    from resources import bench_command

    expand = getattr(bench_command, "expand_scenario", lambda scenario: [scenario])
    return [point for scenario in deployment.spec.benchmarks for point in expand(scenario)]


def run_recipe(deployment, model_path: Path, out_dir: Path, env: dict) -> dict:
    """The user's recipe by hand, timed: serve, wait for health, bench, stop."""
    from resources.bench_command import render_bench_args
    from resources.serve_command import render_serve_args

    runtime = deployment.runtime
    base_url = f"http://{runtime.host}:{runtime.port}"
    serve = [sys.executable, "-m", "resources.vllm_cli", "serve", *render_serve_args(deployment, str(model_path))]
    benches = [[sys.executable, "-m", "resources.vllm_cli", "bench", "serve", *render_bench_args(
        point, base_url, deployment.served_model_name, str(model_path), str(out_dir), f"recipe-{i}.json", 1 + i)]
        for i, point in enumerate(bench_points(deployment))]
    out_dir.mkdir(parents=True, exist_ok=True)
    serve_env = {**env, **runtime.env}
    wait_port_free(runtime.host, runtime.port)
    probe = HealthProbe(base_url)
    started = time.time()
    with (out_dir / "serve.log").open("w") as log:
        server = subprocess.Popen(serve, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                  env=serve_env, cwd=PROJECT_ROOT, start_new_session=True)
    try:
        while not _healthy(base_url, 1.0):
            if server.poll() is not None:
                raise RuntimeError(f"recipe: vllm serve exited with {server.returncode}; see {out_dir}/serve.log")
            time.sleep(HEALTH_POLL_S)
        healthy = time.time()
        probe.stop()
        with (out_dir / "bench.log").open("w") as log:
            for bench in benches:  # one `vllm bench serve` per scenario (or load point), as the pipeline runs
                subprocess.run(bench, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=PROJECT_ROOT, check=True)
        benched = time.time()
    finally:
        probe.stop()
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
    stopped = time.time()
    wait_port_free(runtime.host, runtime.port)  # the engine process may hold the socket a moment longer
    return {"wall_s": stopped - started, "server_start_s": healthy - started, "bench_s": benched - healthy,
            "stop_s": stopped - benched,
            "detect_lag_s": healthy - probe.healthy_at if probe.healthy_at else None}


def run_pipeline(partition: str, env: dict, dagster_home: Path, base_url: str | None, log_path: Path) -> tuple[RunTimeline, float | None]:
    """``dagster job execute`` as users run it, timed from launch to exit; the run's timeline."""
    command = [str(Path(sys.executable).parent / "dagster"), "job", "execute", "-m", "pipelines.definitions",
               "-j", "deploy_and_evaluate", "--tags", json.dumps({"dagster/partition": partition})]
    probe = HealthProbe(base_url) if base_url else None
    launched = time.time()
    with log_path.open("w") as log:
        code = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=PROJECT_ROOT).returncode
    exited = time.time()
    if probe:
        probe.stop()
    if code != 0:
        raise RuntimeError(f"pipeline run failed (exit code {code}); see {log_path}")
    timeline = read_timeline(dagster_home, launched, exited)
    lag = timeline.healthy_seen_at - probe.healthy_at if probe and probe.healthy_at and timeline.healthy_seen_at else None
    return timeline, lag


def one_round(index: int, folder: Path, configs: Path, partition: str, model_src: Path,
              pipeline_env: dict[str, str]) -> dict:
    from resources.config_loader import load_deployments

    deployment = load_deployments(configs)[partition]
    base_env = {k: v for k, v in os.environ.items() if k not in ("EVAL_HOME", "DAGSTER_HOME")}
    base_env.update(EVAL_CONFIG_DIR=str(configs), PYTHONPATH=str(PROJECT_ROOT))
    print(f"-- round {index}: {load_snapshot()}", flush=True)

    recipe = run_recipe(deployment, model_src, folder / f"recipe-{index}", base_env)
    print(f"   (a) recipe by hand  {recipe['wall_s']:6.1f} s", flush=True)

    home = folder / f"eval-{index}"
    (home / "models").mkdir(parents=True)
    shutil.copytree(model_src, home / "models" / deployment.model_name)
    dagster_home = home / "dagster"
    dagster_home.mkdir()
    from pipelines.instance import DAGSTER_YAML

    (dagster_home / "dagster.yaml").write_text(DAGSTER_YAML)
    env = {**base_env, **pipeline_env, "EVAL_HOME": str(home), "DAGSTER_HOME": str(dagster_home)}
    base_url = f"http://{deployment.runtime.host}:{deployment.runtime.port}"
    try:
        wait_port_free(deployment.runtime.host, deployment.runtime.port)
        cold, lag = run_pipeline(partition, env, dagster_home, base_url, home / "cold.log")
        print(f"   (b) pipeline cold   {cold.wall_s:6.1f} s", flush=True)
        warm, _ = run_pipeline(partition, env, dagster_home, None, home / "warm.log")
        print(f"   (c) pipeline warm   {warm.wall_s:6.1f} s", flush=True)
    finally:
        subprocess.run([sys.executable, "-m", "pipelines", "stop", partition], env=env, cwd=PROJECT_ROOT,
                       stdout=subprocess.DEVNULL, check=True)
        wait_port_free(deployment.runtime.host, deployment.runtime.port)
    return {"recipe": recipe, "cold": cold, "warm": warm, "cold_detect_lag_s": lag}


def _spread(values: list[float], fmt: str = "{:.1f}") -> str:
    if len(values) == 1:
        return fmt.format(values[0])
    return f"{fmt.format(statistics.median(values))} ({fmt.format(min(values))}-{fmt.format(max(values))})"


def report(rounds: list[dict], partition: str) -> None:
    a = [r["recipe"]["wall_s"] for r in rounds]
    b = [r["cold"].wall_s for r in rounds]
    c = [r["warm"].wall_s for r in rounds]
    n = len(rounds)
    print()
    print(f"== {partition}: {n} round(s); median (min-max) where more than one")
    print(f"(a) recipe by hand   {_spread(a):>18} s")
    print(f"(b) pipeline cold    {_spread(b):>18} s   b/a = {_spread([x / y for x, y in zip(b, a)], '{:.2f}')}"
          "   (target <= 1.15)")
    print(f"(c) pipeline warm    {_spread(c):>18} s   c/a = {_spread([x / y for x, y in zip(c, a)], '{:.2f}')}"
          "   (target <= 0.50)")

    print()
    print("where the time goes, s           recipe (a)      cold (b)      warm (c)")

    def row(label, ra, rb, rc):
        cells = [_spread(v) if v is not None else "-" for v in (ra, rb, rc)]
        print(f"  {label:<30} {cells[0]:>12} {cells[1]:>13} {cells[2]:>13}")

    def col(key, runs):
        return [getattr(r[runs], key) for r in rounds]

    row("start-up before first step", None, col("before_first_step_s", "cold"), col("before_first_step_s", "warm"))
    for step in CHAIN:
        vals = {k: [r[k].steps_s.get(step, 0.0) for r in rounds] for k in ("cold", "warm")}
        row(f"step {step}", None, vals["cold"], vals["warm"])
        if step == "vllm_service":
            row("  of which vllm serve -> healthy", [r["recipe"]["server_start_s"] for r in rounds],
                [r["cold"].server_start_s or 0.0 for r in rounds], None)
        if step == "benchmark_results":
            row("  of which vllm bench serve", [r["recipe"]["bench_s"] for r in rounds], col("bench_s", "cold"),
                col("bench_s", "warm"))
    row("between steps", None, col("between_steps_s", "cold"), col("between_steps_s", "warm"))
    row("after last step to exit", None, col("after_last_step_s", "cold"), col("after_last_step_s", "warm"))
    row("stop the server", [r["recipe"]["stop_s"] for r in rounds], None, None)
    orchestration = {k: [r[k].wall_s - (r[k].server_start_s or 0.0) - r[k].bench_s for r in rounds]
                     for k in ("cold", "warm")}
    row("= all but serve and bench", [r["recipe"]["stop_s"] for r in rounds], orchestration["cold"],
        orchestration["warm"])
    lags = [r["cold_detect_lag_s"] for r in rounds if r["cold_detect_lag_s"] is not None]
    recipe_lags = [r["recipe"]["detect_lag_s"] for r in rounds if r["recipe"]["detect_lag_s"] is not None]
    print(f"  health noticed after it turned healthy (10 ms probe): pipeline "
          f"{_spread([x * 1000 for x in lags], '{:.0f}') if lags else '?'} ms, recipe "
          f"{_spread([x * 1000 for x in recipe_lags], '{:.0f}') if recipe_lags else '?'} ms")
    events = {k: [r[k].events for r in rounds] for k in ("cold", "warm")}
    print(f"  Dagster events per run: cold {_spread(events['cold'], '{:.0f}')}, warm {_spread(events['warm'], '{:.0f}')}"
          f" (of which debug: {rounds[-1]['cold'].debug_events})")


def fixed_costs(env: dict) -> None:
    print()
    print("fixed costs measured apart (best of 3, s):")
    for label, seconds in import_costs(env).items():
        print(f"  {label:<40} {seconds:6.2f}")
    per_event = event_write_cost()
    print(f"  {'one Dagster event write (SQLite)':<40} {per_event:6.4f}")
    for label, seconds in duckdb_write_costs().items():
        print(f"  {'DuckDB write: ' + label:<40} {seconds:6.3f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--partition", default="tiny-cpu-eager")
    parser.add_argument("--rounds", type=int, default=1, help="a, b, c measured this many times, interleaved")
    parser.add_argument("--port", type=int, default=8310, help="the deployment's port (others get the next ones)")
    parser.add_argument("--keep", action="store_true", help="keep the working folder (logs, instances)")
    parser.add_argument("--no-fixed-costs", action="store_true", help="skip the separate fixed-cost measurements")
    parser.add_argument("--pipeline-env", action="append", default=[], metavar="KEY=VALUE",
                        help="set for the pipeline runs (b) and (c) only, e.g. EVAL_BENCH_WORKER=0 to measure a lever")
    args = parser.parse_args(argv)

    folder = Path(tempfile.mkdtemp(prefix="pipeline-overhead-"))
    configs = private_configs(folder, args.partition, args.port)
    os.environ["EVAL_CONFIG_DIR"] = str(configs)
    from resources.tiny_model import generate_tiny_model

    model = generate_tiny_model(folder / "models" / "tiny-llama").path
    print(f"working folder {folder}; model {model}; port {args.port}", flush=True)
    failed = True
    try:
        pipeline_env = dict(item.split("=", 1) for item in args.pipeline_env)
        if pipeline_env:
            print(f"pipeline runs with {pipeline_env}", flush=True)
        rounds = [one_round(i + 1, folder, configs, args.partition, model, pipeline_env) for i in range(args.rounds)]
        report(rounds, args.partition)
        if not args.no_fixed_costs:
            fixed_costs({**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "EVAL_HOME": str(folder / "eval-fixed")})
        print(f"\nafter: {load_snapshot()}")
        failed = False
    finally:
        if args.keep or failed:
            print(f"kept {folder}", file=sys.stderr)
        else:
            shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
