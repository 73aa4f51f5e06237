"""Records real ``vllm bench serve --save-detailed`` results for the verdict tests.

Serves the generated tiny model with vLLM's CPU build exactly as the ``tiny-cpu-eager``
deployment does, runs its ``short-burst`` scenario (32 prompts, 128 in / 64 out, all at once)
``--runs`` times unchanged, then ``--loaded`` times while CPU burners load the host so vLLM
coalesces its stream. The load generator is the pipeline's warm ``vllm bench serve`` worker, so
the runs of a series follow each other within seconds. Each result keeps the per-request rows the rules read
(``input_lens``, ``output_lens``,
``ttfts``, ``itls``, ``latencies``, ``start_times``, ``errors``) with times rounded to the
microsecond, plus the host's CPU use over the run (``host_usage``, see
``resources/benchmark/host_usage.py``). Usage:

    python benchmarks/record_bench_fixtures.py --out tests/fixtures/bench_history --runs 12 --loaded 2 \
        --prefix warm-
    python benchmarks/record_bench_fixtures.py --out tests/fixtures/bench_history --runs 24 --loaded 0 \
        --prefix warm- --first 12
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from resources.benchmark.command import expand_scenario, render_bench_args  # noqa: E402
from resources.benchmark.host_usage import Sampler  # noqa: E402
from resources.benchmark.worker import BenchWorker  # noqa: E402
from resources.config.loader import load_deployment  # noqa: E402
from resources.serving.vllm_args import render_serve_args  # noqa: E402
from resources.weights.tiny_model import generate_tiny_model  # noqa: E402

KEEP = (
    "date",
    "backend",
    "model_id",
    "num_prompts",
    "request_rate",
    "burstiness",
    "max_concurrency",
    "duration",
    "completed",
    "failed",
    "total_input_tokens",
    "total_output_tokens",
    "request_throughput",
    "request_goodput",
    "output_throughput",
    "total_token_throughput",
    "input_lens",
    "output_lens",
    "ttfts",
    "itls",
    "latencies",
    "start_times",
    "errors",
)


def _trim(raw: dict) -> dict:
    kept = {k: raw[k] for k in KEEP if k in raw}
    kept.update({k: v for k, v in raw.items() if k.endswith("_ms")})
    rnd = lambda v: round(v, 6) if isinstance(v, float) else v  # noqa: E731
    for key in ("ttfts", "latencies", "start_times"):
        kept[key] = [rnd(v) for v in kept.get(key, [])]
    kept["itls"] = [[rnd(v) for v in gaps] for gaps in kept.get("itls", [])]
    return kept


def _burn(stop_at: float) -> None:
    while time.time() < stop_at:
        pass


def _wait_healthy(url: str, timeout_s: float = 300) -> None:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(1)
    raise RuntimeError(f"{url} did not become healthy in {timeout_s} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--runs", type=int, default=12, help="unchanged runs")
    parser.add_argument("--loaded", type=int, default=2, help="runs while CPU burners load the host")
    parser.add_argument("--burners", type=int, default=6)
    parser.add_argument("--prefix", default="", help="file name prefix of this series")
    parser.add_argument("--first", type=int, default=0, help="number of the series' first file (to extend one)")
    parser.add_argument(
        "--num-prompts",
        type=int,
        help="prompts per run (default: the scenario's 32); more prompts "
        "make longer runs, whose run-to-run noise is smaller",
    )
    parser.add_argument("--port", type=int, default=8101 + int(os.environ.get("EVAL_TEST_PORT_OFFSET", "0")))
    parser.add_argument("--deployment", default="tiny-cpu-eager", help="a file name under configs/deployments/")
    parser.add_argument("--point", default="short-burst", help="the load point to repeat, e.g. ladder/c16")
    parser.add_argument("--model-dir", type=Path, help="serve these weights (default: generate the tiny model)")
    parser.add_argument(
        "--server-pid",
        type=int,
        help="measure the server already running with this pid on "
        "--port (its arguments must be the deployment's) instead of starting one",
    )
    args = parser.parse_args()
    deployment = load_deployment(ROOT / "configs" / "deployments" / f"{args.deployment}.yaml")
    points = [
        p
        for s in deployment.spec.benchmarks
        for p in expand_scenario(s.model_copy(update={"num_prompts": args.num_prompts or s.num_prompts}))
    ]
    point = next((p for p in points if p.name == args.point), None)
    if point is None:
        parser.error(f"--point {args.point}: {args.deployment} has the load points {[p.name for p in points]}")
    work = Path(tempfile.mkdtemp(prefix="record-bench-"))
    model = args.model_dir or generate_tiny_model(work / "model").path
    url = f"http://127.0.0.1:{args.port}"
    if args.server_pid:
        server = argparse.Namespace(pid=args.server_pid)
    else:
        serve = [
            sys.executable,
            "-m",
            "resources.serving.vllm_cli",
            "serve",
            *render_serve_args(deployment, str(model), args.port),
        ]
        log = open(work / "server.log", "w")
        server = subprocess.Popen(
            serve,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **deployment.spec.runtime.env, "PYTHONPATH": str(ROOT)},
        )
    args.out.mkdir(parents=True, exist_ok=True)
    worker = BenchWorker()
    try:
        _wait_healthy(url, timeout_s=deployment.spec.runtime.startup_timeout_s)
        plan = [("unchanged", args.first + i) for i in range(args.runs)] + [
            ("loaded", args.first + i) for i in range(args.loaded)
        ]
        for kind, i in plan:
            name = f"{args.prefix}{kind}-{i:02d}.json"
            bench = render_bench_args(
                point,
                url,
                deployment.spec.served_model_name or "tiny",
                str(model),
                str(work),
                name,
                seed=1000 + len(list(args.out.glob("*.json"))),
            )
            burners = []
            if kind == "loaded":
                stop_at = time.time() + 60
                burners = [multiprocessing.Process(target=_burn, args=(stop_at,)) for _ in range(args.burners)]
                for b in burners:
                    b.start()
            # One warm load generator for the whole series, as the pipeline runs it: runs follow
            # each other within seconds instead of a vLLM import apart.
            sampler = Sampler({"server": server.pid, "load_generator": worker.process.pid}).__enter__()

            def on_line(line: str, sampler: Sampler = sampler) -> None:
                if "Serving Benchmark Result" in line:  # printed as soon as the measured window ends
                    sampler.__exit__()

            code = worker.run(bench, on_line=on_line)
            sampler.__exit__()
            for b in burners:
                b.terminate()
                b.join()
            if code != 0:
                raise RuntimeError(f"vllm bench serve exited with {code}")
            raw = json.loads((work / name).read_text())
            # The measured window only (its duration), not the load generator's start-up.
            usage = sampler.last_seconds(raw["duration"])
            trimmed = _trim(raw) | {"host_usage": usage.as_row()}
            (args.out / name).write_text(json.dumps(trimmed, separators=(",", ":")) + "\n")
            print(name, f"{raw['output_throughput']:.0f} tok/s", usage.as_row(), flush=True)
    finally:
        worker.close()
        if not args.server_pid:
            os.killpg(server.pid, 15)
            server.wait(timeout=60)
    return 0


if __name__ == "__main__":
    sys.exit(main())
