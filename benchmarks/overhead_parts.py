"""Where a pipeline run's time goes: read from the run's own Dagster event log, plus small
measurements of the fixed costs (interpreter, imports, event writes, DuckDB writes).

Used by ``benchmarks/pipeline_overhead.py``; plain functions over an instance folder.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CHAIN = ["hardware_report", "vllm_image", "model_weights", "vllm_service", "smoke_test", "benchmark_results"]


@dataclass
class RunTimeline:
    """Seconds spent in each part of one ``dagster job execute`` run, from launch to exit."""

    run_id: str
    wall_s: float
    before_first_step_s: float  # interpreter, imports, definitions, instance, run creation
    steps_s: dict[str, float] = field(default_factory=dict)
    between_steps_s: float = 0.0
    after_last_step_s: float = 0.0  # run success event, result, interpreter exit
    server_start_s: float | None = None  # vllm serve launch -> healthy (None: reused)
    healthy_seen_at: float | None = None  # wall clock when the step logged "healthy"
    bench_s: float = 0.0  # vllm bench serve processes, inside benchmark_results
    events: int = 0


def read_timeline(dagster_home: Path, launched_at: float, exited_at: float) -> RunTimeline:
    """The newest run of the instance at ``dagster_home``, cut into parts by its events."""
    from dagster import DagsterEventType, DagsterInstance

    with DagsterInstance.from_config(str(dagster_home)) as instance:
        [run] = instance.get_runs(limit=1)
        logs = instance.all_logs(run.run_id)
    starts, ends = {}, {}
    bench_started = None
    timeline = RunTimeline(run.run_id, exited_at - launched_at, 0.0, events=len(logs))
    for entry in logs:
        event = entry.dagster_event
        message = entry.user_message or ""
        if event is not None and event.event_type == DagsterEventType.STEP_START:
            starts[event.step_key] = entry.timestamp
        elif event is not None and event.event_type in (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE):
            ends[event.step_key] = entry.timestamp
        elif event is None and message.startswith("server healthy at"):
            timeline.healthy_seen_at = entry.timestamp
            found = re.search(r"after ([0-9.]+) s", message)
            timeline.server_start_s = float(found.group(1)) if found else None
        elif event is None and re.search(r": vllm bench serve --", message):
            bench_started = entry.timestamp
        elif event is None and bench_started is not None and re.search(r": \d+ completed, \d+ failed", message):
            timeline.bench_s += entry.timestamp - bench_started
            bench_started = None
    order = sorted(starts, key=starts.get)
    timeline.before_first_step_s = starts[order[0]] - launched_at
    timeline.after_last_step_s = exited_at - ends[order[-1]]
    for i, step in enumerate(order):
        timeline.steps_s[step] = ends[step] - starts[step]
        if i:
            timeline.between_steps_s += starts[step] - ends[order[i - 1]]
    return timeline


def time_command(argv: list[str], env: dict | None = None, repeat: int = 3) -> float:
    """The smallest wall time of ``repeat`` runs of a command (the least disturbed one)."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run(argv, cwd=PROJECT_ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
        best = min(best, time.perf_counter() - started)
    return best


def import_costs(env: dict) -> dict[str, float]:
    """Seconds for a bare interpreter, and for importing what a run imports before its first step."""
    python = sys.executable
    return {
        "python -c pass": time_command([python, "-c", "pass"], env),
        "import dagster": time_command([python, "-c", "import dagster"], env),
        "import pipelines.definitions": time_command([python, "-c", "import pipelines.definitions"], env),
        "dagster job execute --help": time_command(
            [str(Path(python).parent / "dagster"), "job", "execute", "--help"], env
        ),
    }


def event_write_cost(samples: int = 200) -> float:
    """Seconds to write one event to a fresh SQLite Dagster instance (what each log line costs)."""
    from dagster import DagsterInstance
    from dagster._core.test_utils import create_run_for_test

    with tempfile.TemporaryDirectory(prefix="event-cost-") as home:
        Path(home, "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        with DagsterInstance.from_config(home) as instance:
            run = create_run_for_test(instance, job_name="probe")
            instance.report_engine_event("warm-up", run)
            started = time.perf_counter()
            for i in range(samples):
                instance.report_engine_event(f"event {i}", run)
            return (time.perf_counter() - started) / samples


def duckdb_write_costs() -> dict[str, float]:
    """Seconds for the two writes a run makes: the hardware report into a new file, the run's rows."""
    from resources.results.store import ResultsStore

    with tempfile.TemporaryDirectory(prefix="duckdb-cost-") as folder:
        store = ResultsStore(Path(folder) / "results.duckdb")
        started = time.perf_counter()
        store.record_hardware_report("run-1", "p", "f" * 16, False, "{}")
        first = time.perf_counter() - started
        started = time.perf_counter()
        store.record_run(
            {"run_id": "run-1", "partition": "p", "status": "succeeded"},
            [{"run_id": "run-1", "partition": "p", "scenario": "s", "completed": 32}],
        )
        return {"hardware report (new file, schema)": first, "run + results rows": time.perf_counter() - started}


def load_snapshot() -> str:
    """The load average and any other vLLM or Dagster process that competes for the 2 cores."""
    load = os.getloadavg()
    ours = {os.getpid()}
    others = subprocess.run(["ps", "-eo", "pid=,pcpu=,args="], capture_output=True, text=True).stdout.splitlines()
    busy = [
        line.strip()
        for line in others
        if re.search(r"vllm|dagster|pytest|pip install", line) and int(line.split()[0]) not in ours
    ]
    text = f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    if busy:
        text += f"; {len(busy)} other vLLM/Dagster/pytest/pip processes: " + "; ".join(
            " ".join(line.split()[2:5])[:70] for line in busy[:4]
        )
    return text
