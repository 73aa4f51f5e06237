"""Faults and secrets, for real: a server killed mid-benchmark, two runs at once, a database held by
another process, and an API key that must never be written anywhere. (What the failure sensor
records after a failed run: tests/test_pipelines/test_sensors.py.)"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pytest

from resources.results.store import ResultsStore

PLANTED_SECRET = "sk-planted-3f9a1c7e5b2d4f60"
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _db_rows(eval_home, sql, params):
    with duckdb.connect(str(eval_home / "results.duckdb"), read_only=True) as db:
        return db.execute(sql, params).fetchall()


@pytest.mark.vllm
def test_an_api_key_is_enforced_and_never_written_to_logs_metadata_results_or_files(
    run_chain, instance, eval_home, monkeypatch
):
    from resources.runtime.process import read_state

    monkeypatch.setenv("EVAL_TEST_API_KEY", PLANTED_SECRET)
    result = run_chain("tiny-cpu-secured")
    assert result.success
    state = read_state("tiny-cpu-secured")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{state.base_url}/v1/models", timeout=10)
    assert refused.value.code == 401, "without the key the server refuses"
    request = urllib.request.Request(
        f"{state.base_url}/v1/models", headers={"Authorization": f"Bearer {PLANTED_SECRET}"}
    )
    assert json.load(urllib.request.urlopen(request, timeout=10))["data"][0]["id"] == "tiny"

    places = {"the server's command line": Path(f"/proc/{state.pid}/cmdline").read_bytes().replace(b"\0", b" ")}
    for record in instance.all_logs(result.run_id):
        places[f"event {record.dagster_event.event_type_value if record.dagster_event else 'log'}"] = str(
            record
        ).encode()
    for path in eval_home.rglob("*"):
        if path.is_file() and not path.name.endswith((".safetensors", ".wal")):
            places[str(path)] = path.read_bytes()
    leaks = [where for where, content in places.items() if PLANTED_SECRET.encode() in content]
    assert leaks == [], f"the planted secret leaked into: {leaks}"
    assert len(places) > 20, "the search covered the event log, the results database and every file"


@pytest.mark.vllm
def test_a_server_killed_mid_benchmark_fails_the_run_records_it_and_leaves_no_rows_or_process(run_chain, eval_home):
    from resources.config.eval_home import bench_dir
    from resources.runtime.process import port_in_use, read_state

    killed = {}

    def kill_when_benchmark_starts():
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            state = read_state("tiny-cpu-long")
            log = Path(state.log_path).read_text(errors="replace") if state else ""
            if any((bench_dir() / "tiny-cpu-long").glob("*/")) and log.count("POST /v1/completions") >= 20:
                os.killpg(state.pid, signal.SIGKILL)  # well into the benchmark's requests
                killed["pid"] = state.pid
                return
            time.sleep(0.2)

    killer = threading.Thread(target=kill_when_benchmark_starts, daemon=True)
    killer.start()
    result = run_chain("tiny-cpu-long")
    killer.join(timeout=5)
    assert killed, "the benchmark never started"
    assert not result.success
    [(status, error)] = _db_rows(eval_home, "SELECT status, error FROM runs WHERE run_id = ?", [result.run_id])
    assert status == "failed" and "requests failed" in error
    assert _db_rows(eval_home, "SELECT count(*) FROM benchmark_results WHERE run_id = ?", [result.run_id]) == [(0,)]
    assert _db_rows(eval_home, "SELECT count(*) FROM benchmark_requests WHERE run_id = ?", [result.run_id]) == [(0,)]
    assert read_state("tiny-cpu-long") is None and not port_in_use("127.0.0.1", 18196)


@pytest.mark.vllm
def test_two_partitions_run_at_the_same_time_from_the_command_line_and_both_land_their_rows(
    instance, eval_home, tmp_path
):
    from dagster import RunsFilter

    dagster = Path(sys.executable).parent / "dagster"
    before = datetime.now(timezone.utc)
    # Each writes its log to a file: a pipe left unread while waiting for the other would stall it.
    logs = {partition: tmp_path / f"{partition}.log" for partition in ("tiny-cpu-eager", "tiny-cpu-beside")}
    runs = {
        partition: subprocess.Popen(
            [
                str(dagster),
                "job",
                "execute",
                "-m",
                "pipelines.definitions",
                "-j",
                "deploy_and_evaluate",
                "--tags",
                json.dumps({"dagster/partition": partition}),
            ],
            cwd=PROJECT_ROOT,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
        )
        for partition, log in logs.items()
    }
    for partition, process in runs.items():
        process.wait(timeout=900)
        assert process.returncode == 0, f"{partition} failed:\n{logs[partition].read_text()[-3000:]}"
    # Each process's run, from the instance both wrote to.
    records = {
        partition: instance.get_run_records(
            RunsFilter(job_name="deploy_and_evaluate", tags={"dagster/partition": partition}, created_after=before)
        )
        for partition in runs
    }
    assert all(len(found) == 1 for found in records.values()), records
    runs_at = {partition: (found[0].start_time, found[0].end_time) for partition, found in records.items()}
    serving_at = {
        partition: _serving_and_measuring(instance, found[0].dagster_run.run_id) for partition, found in records.items()
    }
    print(f"\n[figures] two runs at once (epoch s): runs {runs_at}; serving and measuring {serving_at}")
    assert _overlap(*runs_at.values()), f"the runs went one after the other: {runs_at}"
    assert _overlap(*serving_at.values()), f"one server started only after the other run had finished: {serving_at}"
    for partition, [record] in records.items():
        assert _db_rows(
            eval_home,
            "SELECT status FROM runs WHERE run_id = ? AND partition = ?",
            [record.dagster_run.run_id, partition],
        ) == [("succeeded",)], f"{partition}'s row landed"


def _serving_and_measuring(instance, run_id: str) -> tuple[float, float]:
    """From the start of the run's vllm_service step to the end of its benchmark_results step."""
    from dagster import DagsterEventType

    events = instance.all_logs(run_id, of_type={DagsterEventType.STEP_START, DagsterEventType.STEP_SUCCESS})
    [start] = [
        e.timestamp
        for e in events
        if e.step_key == "vllm_service" and e.dagster_event_type == DagsterEventType.STEP_START
    ]
    [end] = [
        e.timestamp
        for e in events
        if e.step_key == "benchmark_results" and e.dagster_event_type == DagsterEventType.STEP_SUCCESS
    ]
    return start, end


def _overlap(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def _hold_database(path: Path, seconds: float) -> subprocess.Popen:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
            "c.execute('CREATE TABLE IF NOT EXISTS held (x INT)'); print('held', flush=True); "
            "time.sleep(float(sys.argv[2]))",
            str(path),
            str(seconds),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    return holder


def _run_row(run_id):
    return {"run_id": run_id, "partition": "p", "status": "succeeded"}


def test_a_write_waits_for_another_process_holding_the_database_and_then_succeeds(tmp_path):
    path = tmp_path / "results.duckdb"
    store = ResultsStore(path, lock_wait_s=60)
    store.record_run(_run_row("before"), [])
    holder = _hold_database(path, 2)
    started = time.monotonic()
    store.record_run(_run_row("while-held"), [])
    assert time.monotonic() - started >= 1, "the write waited for the other process"
    holder.wait()
    assert sorted(store.query("SELECT run_id FROM runs")["run_id"]) == ["before", "while-held"]


def test_a_write_that_cannot_wait_long_enough_fails_clearly_and_loses_nothing(tmp_path):
    path = tmp_path / "results.duckdb"
    store = ResultsStore(path, lock_wait_s=0.5)
    store.record_run(_run_row("before"), [])
    holder = _hold_database(path, 5)
    with pytest.raises(RuntimeError, match="another process holds it. Nothing was written"):
        store.record_run(_run_row("too-late"), [])
    holder.wait()
    assert store.query("SELECT run_id FROM runs")["run_id"].tolist() == ["before"]
