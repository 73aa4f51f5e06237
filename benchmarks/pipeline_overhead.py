"""What the pipeline costs on top of the work it orchestrates, measured: ``make bench``.

For one CPU deployment (default ``tiny-cpu-eager``), on this machine, in one run:

  (a) the recipe by hand: ``vllm serve`` with the deployment's arguments, wait for ``/health``,
      one ``vllm bench serve`` per benchmark point of the deployment, stop the server;
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
    CHAIN,
    RunTimeline,
    duckdb_write_costs,
    event_write_cost,
    import_costs,
    load_snapshot,
    read_timeline,
)

HEALTH_POLL_S = 0.1  # the recipe polls as often as the pipeline does


def private_configs(folder: Path, partition: str, port: int, scenarios: int | None = None) -> Path:
    """A copy of ``configs/`` with every deployment moved to a port of its own from ``port`` up
    (and the measured deployment cut to its first ``scenarios`` benchmark scenarios if asked)."""
    import yaml

    configs = folder / "configs"
    shutil.copytree(PROJECT_ROOT / "configs", configs)
    others = port + 1
    for path in sorted((configs / "deployments").glob("*.yaml")):
        data = yaml.safe_load(path.read_text())
        runtime = data.setdefault("runtime", {})
        if path.stem == partition:
            runtime["port"] = port
            if scenarios:
                data["benchmarks"] = data["benchmarks"][:scenarios]
        elif "port" in runtime or runtime.get("kind", "process") == "process":
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
    from resources.benchmark import command as bench_command

    expand = getattr(bench_command, "expand_scenario", lambda scenario: [scenario])
    return [point for scenario in deployment.spec.benchmarks for point in expand(scenario)]


def run_recipe(deployment, model_path: Path, out_dir: Path, env: dict) -> dict:
    """The user's recipe by hand, timed: serve, wait for health, bench, stop."""
    from resources.benchmark.command import render_bench_args
    from resources.serving.vllm_args import render_serve_args
    from resources.serving.vllm_cli import CLI_MODULE

    runtime = deployment.runtime
    base_url = f"http://{runtime.host}:{runtime.port}"
    serve = [sys.executable, "-m", CLI_MODULE, "serve", *render_serve_args(deployment, str(model_path))]
    benches = [
        [
            sys.executable,
            "-m",
            CLI_MODULE,
            "bench",
            "serve",
            *render_bench_args(
                point, base_url, deployment.served_model_name, str(model_path), str(out_dir), f"recipe-{i}.json", 1 + i
            ),
        ]
        for i, point in enumerate(bench_points(deployment))
    ]
    out_dir.mkdir(parents=True, exist_ok=True)
    serve_env = {**env, **runtime.env}
    wait_port_free(runtime.host, runtime.port)
    probe = HealthProbe(base_url)
    started = time.time()
    with (out_dir / "serve.log").open("w") as log:
        server = subprocess.Popen(
            serve,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=serve_env,
            cwd=PROJECT_ROOT,
            start_new_session=True,
        )
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
    return {
        "wall_s": stopped - started,
        "server_start_s": healthy - started,
        "bench_s": benched - healthy,
        "stop_s": stopped - benched,
        "detect_lag_s": healthy - probe.healthy_at if probe.healthy_at else None,
    }


def run_pipeline(
    partition: str, env: dict, dagster_home: Path, base_url: str | None, log_path: Path
) -> tuple[RunTimeline, float | None]:
    """``dagster job execute`` as users run it, timed from launch to exit; the run's timeline."""
    command = [
        str(Path(sys.executable).parent / "dagster"),
        "job",
        "execute",
        "-m",
        "pipelines.definitions",
        "-j",
        "deploy_and_evaluate",
        "--tags",
        json.dumps({"dagster/partition": partition}),
    ]
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
    lag = (
        timeline.healthy_seen_at - probe.healthy_at if probe and probe.healthy_at and timeline.healthy_seen_at else None
    )
    return timeline, lag


def one_round(
    index: int, folder: Path, configs: Path, partition: str, model_src: Path, pipeline_env: dict[str, str]
) -> dict:
    from resources.config.loader import load_deployments

    deployment = load_deployments(configs)[partition]
    base_env = {k: v for k, v in os.environ.items() if k not in ("EVAL_HOME", "DAGSTER_HOME")}
    base_env.update(EVAL_CONFIG_DIR=str(configs), PYTHONPATH=str(PROJECT_ROOT))
    print(f"-- round {index}: {load_snapshot()}", flush=True)

    recipe = run_recipe(deployment, model_src, folder / f"recipe-{index}", base_env)
    print(
        f"   (a) recipe by hand  {recipe['wall_s']:6.1f} s  (serve to healthy {recipe['server_start_s']:.1f}, "
        f"bench {recipe['bench_s']:.1f}, stop {recipe['stop_s']:.1f})",
        flush=True,
    )

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
        print(
            f"   (b) pipeline cold   {cold.wall_s:6.1f} s  (serve to healthy {cold.server_start_s or 0:.1f}, "
            f"bench {cold.bench_s:.1f}, the rest {cold.wall_s - (cold.server_start_s or 0) - cold.bench_s:.1f})",
            flush=True,
        )
        warm, _ = run_pipeline(partition, env, dagster_home, None, home / "warm.log")
        print(
            f"   (c) pipeline warm   {warm.wall_s:6.1f} s  (bench {warm.bench_s:.1f}, the rest "
            f"{warm.wall_s - warm.bench_s:.1f})",
            flush=True,
        )
    finally:
        subprocess.run(
            [sys.executable, "-m", "pipelines", "stop", partition],
            env=env,
            cwd=PROJECT_ROOT,
            stdout=subprocess.DEVNULL,
            check=True,
        )
        wait_port_free(deployment.runtime.host, deployment.runtime.port)
    return {"recipe": recipe, "cold": cold, "warm": warm, "cold_detect_lag_s": lag}


def _spread(values: list[float], fmt: str = "{:.1f}") -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return fmt.format(values[0])
    return f"{fmt.format(statistics.median(values))} ({fmt.format(min(values))}-{fmt.format(max(values))})"


def report(rounds: list[dict], partition: str, points: list[str], costs: dict | None) -> None:
    a = [r["recipe"]["wall_s"] for r in rounds]
    b = [r["cold"].wall_s for r in rounds]
    c = [r["warm"].wall_s for r in rounds]
    ba, ca = [x / y for x, y in zip(b, a)], [x / y for x, y in zip(c, a)]
    print()
    print(
        f"== {partition}, {len(points)} benchmark point(s) ({', '.join(points)}); {len(rounds)} round(s)"
        + ("; median (min-max)" if len(rounds) > 1 else "")
    )
    print(f"(a) recipe by hand   {_spread(a):>18} s")
    print(
        f"(b) pipeline cold    {_spread(b):>18} s   b/a = {_spread(ba, '{:.2f}'):<17} target <= 1.15: "
        f"{'met' if statistics.median(ba) <= 1.15 else 'NOT met'}"
    )
    print(
        f"(c) pipeline warm    {_spread(c):>18} s   c/a = {_spread(ca, '{:.2f}'):<17} target <= 0.50: "
        f"{'met' if statistics.median(ca) <= 0.50 else 'NOT met'}"
    )

    def row(label, ra, rb, rc):
        cells = [_spread(v) if v is not None else "" for v in (ra, rb, rc)]
        print(f"  {label:<44} {cells[0]:>14} {cells[1]:>14} {cells[2]:>14}")

    def timeline(kind, key):
        return [getattr(r[kind], key) for r in rounds]

    def step(kind, name):
        return [r[kind].steps_s.get(name, 0.0) for r in rounds]

    print()
    print(f"  {'wall time by part, s':<44} {'recipe (a)':>14} {'cold (b)':>14} {'warm (c)':>14}")
    row(
        "vllm serve, launch to healthy",
        [r["recipe"]["server_start_s"] for r in rounds],
        [r["cold"].server_start_s or 0.0 for r in rounds],
        [0.0] * len(rounds),
    )
    row(
        "vllm bench serve, all points",
        [r["recipe"]["bench_s"] for r in rounds],
        timeline("cold", "bench_s"),
        timeline("warm", "bench_s"),
    )
    row("stop the server", [r["recipe"]["stop_s"] for r in rounds], None, None)
    row(
        "pipeline: before the first step",
        None,
        timeline("cold", "before_first_step_s"),
        timeline("warm", "before_first_step_s"),
    )
    for name in CHAIN:
        label = {"vllm_service": "vllm_service less serve", "benchmark_results": "benchmark_results less bench"}.get(
            name, name
        )
        cold, warm = step("cold", name), step("warm", name)
        if name == "vllm_service":
            cold = [x - (r["cold"].server_start_s or 0.0) for x, r in zip(cold, rounds)]
        if name == "benchmark_results":
            cold = [x - r["cold"].bench_s for x, r in zip(cold, rounds)]
            warm = [x - r["warm"].bench_s for x, r in zip(warm, rounds)]
        row(f"pipeline: step {label}", None, cold, warm)
    row("pipeline: between steps", None, timeline("cold", "between_steps_s"), timeline("warm", "between_steps_s"))
    row(
        "pipeline: after the last step to exit",
        None,
        timeline("cold", "after_last_step_s"),
        timeline("warm", "after_last_step_s"),
    )
    own = {k: [r[k].wall_s - (r[k].server_start_s or 0.0) - r[k].bench_s for r in rounds] for k in ("cold", "warm")}
    row("= all but serve and bench", [r["recipe"]["stop_s"] for r in rounds], own["cold"], own["warm"])

    print()
    print("where the pipeline's own time goes:")
    print("  process start-ups per step: none (in-process executor: the run is one process; vLLM's")
    print("    bench runs in one warm worker for all points unless EVAL_BENCH_WORKER=0)")
    events = {k: [r[k].events for r in rounds] for k in ("cold", "warm")}
    if costs:
        print(
            "  imports before the first step: `import pipelines.definitions` "
            f"{costs['import pipelines.definitions']:.2f} s, of which `import dagster` {costs['import dagster']:.2f} s "
            f"(bare interpreter {costs['python -c pass']:.2f} s)"
        )
        per_event = costs["event_write_s"]
        print(
            f"  Dagster event writes: {_spread(events['cold'], '{:.0f}')} events cold, "
            f"{_spread(events['warm'], '{:.0f}')} warm, x {per_event * 1000:.1f} ms per SQLite write = about "
            f"{statistics.median(events['cold']) * per_event:.1f} s / "
            f"{statistics.median(events['warm']) * per_event:.1f} s"
        )
        print(
            f"  DuckDB writes: hardware report {costs['duckdb_hardware_s']:.3f} s "
            f"+ run rows {costs['duckdb_run_s']:.3f} s"
        )
    else:
        print(
            f"  Dagster events: {_spread(events['cold'], '{:.0f}')} cold, {_spread(events['warm'], '{:.0f}')} warm "
            "(write cost: run without --no-fixed-costs)"
        )
    lags = [r["cold_detect_lag_s"] * 1000 for r in rounds if r["cold_detect_lag_s"] is not None]
    recipe_lags = [r["recipe"]["detect_lag_s"] * 1000 for r in rounds if r["recipe"]["detect_lag_s"] is not None]
    print(
        f"  health polling: the pipeline noticed /health 200 {_spread(lags, '{:.0f}')} ms after a 10 ms probe did "
        f"(the recipe's 0.1 s poll: {_spread(recipe_lags, '{:.0f}')} ms)"
    )
    print(
        f"  smoke test (not in the recipe): {_spread(step('cold', 'smoke_test'))} s cold, "
        f"{_spread(step('warm', 'smoke_test'))} s warm"
    )


def fixed_costs(env: dict) -> dict:
    """Costs measured apart from the runs: imports, one event write, the two DuckDB writes."""
    costs = dict(import_costs(env))
    costs["event_write_s"] = event_write_cost()
    duck = duckdb_write_costs()
    costs["duckdb_hardware_s"], costs["duckdb_run_s"] = duck.values()
    print()
    print("fixed costs measured apart (best of 3):")
    for label in ("python -c pass", "import dagster", "import pipelines.definitions", "dagster job execute --help"):
        print(f"  {label:<52} {costs[label]:7.2f} s")
    print(f"  {'one Dagster event write (SQLite)':<52} {costs['event_write_s'] * 1000:7.1f} ms")
    for label, seconds in duck.items():
        print(f"  {'DuckDB write: ' + label:<52} {seconds * 1000:7.1f} ms")
    return costs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--partition", default="tiny-cpu-eager")
    parser.add_argument("--rounds", type=int, default=1, help="a, b, c measured this many times, interleaved")
    parser.add_argument("--port", type=int, default=8310, help="the deployment's port (others get the next ones)")
    parser.add_argument(
        "--scenarios",
        type=int,
        default=None,
        help="measure only the deployment's first N benchmark scenarios (default: all)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the working folder (logs, instances)")
    parser.add_argument("--no-fixed-costs", action="store_true", help="skip the separate fixed-cost measurements")
    parser.add_argument(
        "--pipeline-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="set for the pipeline runs (b) and (c) only, e.g. EVAL_BENCH_WORKER=0 to measure a lever",
    )
    args = parser.parse_args(argv)

    folder = Path(tempfile.mkdtemp(prefix="pipeline-overhead-"))
    configs = private_configs(folder, args.partition, args.port, args.scenarios)
    os.environ["EVAL_CONFIG_DIR"] = str(configs)
    from resources.weights.tiny_model import generate_tiny_model

    model = generate_tiny_model(folder / "models" / "tiny-llama").path
    print(f"working folder {folder}; model {model}; port {args.port}", flush=True)
    failed = True
    try:
        pipeline_env = dict(item.split("=", 1) for item in args.pipeline_env)
        if pipeline_env:
            print(f"pipeline runs with {pipeline_env}", flush=True)
        rounds = [one_round(i + 1, folder, configs, args.partition, model, pipeline_env) for i in range(args.rounds)]
        costs = (
            None
            if args.no_fixed_costs
            else fixed_costs({**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "EVAL_HOME": str(folder / "eval-fixed")})
        )
        from resources.config.loader import load_deployments

        points = [p.name for p in bench_points(load_deployments(configs)[args.partition])]
        report(rounds, args.partition, points, costs)
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
