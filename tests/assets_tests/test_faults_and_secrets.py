"""Faults and secrets, for real: a server killed mid-benchmark, two runs at once, a database held by
another process, and an API key that must never be written anywhere."""

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
        run_chain, instance, eval_home, monkeypatch):
    from resources.runtime.process import read_state

    monkeypatch.setenv("EVAL_TEST_API_KEY", PLANTED_SECRET)
    result = run_chain("tiny-cpu-secured")
    assert result.success
    state = read_state("tiny-cpu-secured")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{state.base_url}/v1/models", timeout=10)
    assert refused.value.code == 401, "without the key the server refuses"
    request = urllib.request.Request(f"{state.base_url}/v1/models",
                                     headers={"Authorization": f"Bearer {PLANTED_SECRET}"})
    assert json.load(urllib.request.urlopen(request, timeout=10))["data"][0]["id"] == "tiny"

    places = {"the server's command line": Path(f"/proc/{state.pid}/cmdline").read_bytes().replace(b"\0", b" ")}
    for record in instance.all_logs(result.run_id):
        places[f"event {record.dagster_event.event_type_value if record.dagster_event else 'log'}"] = (
            str(record).encode())
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
def test_two_partitions_run_at_the_same_time_from_the_command_line_and_both_land_their_rows(eval_home):
    dagster = Path(sys.executable).parent / "dagster"
    runs = {
        partition: subprocess.Popen(
            [str(dagster), "job", "execute", "-m", "pipelines.definitions", "-j", "deploy_and_evaluate",
             "--tags", json.dumps({"dagster/partition": partition})],
            cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for partition in ("tiny-cpu-eager", "tiny-cpu-beside")
    }
    for partition, process in runs.items():
        output, _ = process.communicate(timeout=900)
        assert process.returncode == 0, f"{partition} failed:\n{output[-3000:]}"
    landed = dict(_db_rows(eval_home, "SELECT partition, count(*) FROM runs WHERE status = 'succeeded' AND "
                           "partition IN ('tiny-cpu-eager', 'tiny-cpu-beside') GROUP BY partition", []))
    assert landed.get("tiny-cpu-eager", 0) >= 1 and landed.get("tiny-cpu-beside", 0) >= 1


def _hold_database(path: Path, seconds: float) -> subprocess.Popen:
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
         "c.execute('CREATE TABLE IF NOT EXISTS held (x INT)'); print('held', flush=True); "
         "time.sleep(float(sys.argv[2]))", str(path), str(seconds)],
        stdout=subprocess.PIPE, text=True)
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


def test_a_failed_run_reported_by_the_sensor_is_recorded_without_touching_a_succeeded_one(eval_home):
    from pipelines.failure_cleanup import clean_up_failed_run
    from resources.config.eval_home import results_db_path

    store = ResultsStore(results_db_path())
    store.record_run({"run_id": "done-run", "partition": "tiny-cpu-eager", "status": "succeeded"}, [])
    clean_up_failed_run("done-run", "tiny-cpu-eager", "late failure event")
    clean_up_failed_run("killed-run", "tiny-cpu-eager", "run terminated from the UI")
    rows = dict(store.query("SELECT run_id, status FROM runs WHERE run_id IN ('done-run', 'killed-run')")
                .itertuples(index=False, name=None))
    assert rows == {"done-run": "succeeded", "killed-run": "failed"}
