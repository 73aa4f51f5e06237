"""One orchestrator, two GPU hosts: the production instance drives both through its run queue.

Real parts throughout: PostgreSQL on loopback (tests/docker/start_postgres.sh) holds Dagster's runs,
events and schedules; ``python -m pipelines fleet-up`` runs the real ``dagster-daemon`` and
``dagster-webserver``; ``python -m pipelines fleet-launch`` queues four deployments of the tiny
model at once through the webserver, two on this machine's Docker Engine and two on the second
engine, a dockerd in its own network namespace reached over tcp:// with TLS
(tests/docker/start_gpu_host_engine.sh). The queue admits one run per ``gpu_host`` tag, so the
runs' own start and end times must show each host's runs one after the other and the two hosts at
work at the same time; every benchmark lands in the one DuckDB file.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import duckdb
import pytest
import yaml

from tests.docker.conftest import _require
from tests.docker.fleet import ADMIN_URL, START_SCRIPT, database_url
from tests.docker.gpu_host import ENGINE, TLS

pytestmark = pytest.mark.e2e

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SUFFIX = os.environ["EVAL_TEST_DOCKER_SUFFIX"]  # set by tests/conftest.py, as the port offset
TEST_PORT_OFFSET = int(os.environ["EVAL_TEST_PORT_OFFSET"])  # set by tests/conftest.py
WEBSERVER_PORT = 8090 + TEST_PORT_OFFSET
# 8170-8173 (+ the offset): clear of the configs' own servers (8101, 8102), which earlier tests
# leave warm, and of the other test-only partitions (8189-8199 and the docker range 8230-8300).
FLEET_PORT = 8170 + TEST_PORT_OFFSET
LOCAL = [f"fleet-local-{n}-{SUFFIX}" for n in ("a", "b")]
REMOTE = [f"fleet-remote-{n}-{SUFFIX}" for n in ("a", "b")]
RUNS_TIMEOUT_S = 600
# EVAL_FLEET_ONE_HOST=1 puts all four on this machine's engine: the baseline the two-host wall time
# is compared with (the same four runs, one at a time).
ONE_HOST = os.environ.get("EVAL_FLEET_ONE_HOST") == "1"
API_KEY_VAR = "EVAL_TEST_FLEET_API_KEY"


def _admin(sql: str) -> None:
    import psycopg2

    connection = psycopg2.connect(ADMIN_URL, connect_timeout=5)
    connection.autocommit = True  # CREATE/DROP DATABASE cannot run in a transaction
    try:
        connection.cursor().execute(sql)
    finally:
        connection.close()


@pytest.fixture(scope="module")
def pg_url():
    """A database of its own on the loopback server, dropped afterwards."""
    try:
        import dagster_postgres  # noqa: F401
        import psycopg2
    except ImportError as exc:
        _require(False, f"dagster-postgres is not installed ({exc}): `make install` installs it")
    try:
        psycopg2.connect(ADMIN_URL, connect_timeout=5).close()
    except psycopg2.Error as exc:
        _require(False, f"no PostgreSQL at {ADMIN_URL} ({str(exc).strip()}): run {START_SCRIPT} (as .ci/run does)")
    database = f"vllm_eval_fleet_{SUFFIX}"
    _admin(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
    _admin(f"CREATE DATABASE {database}")
    yield database_url(database)
    _admin(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")


def _deployment(docker_deployment: dict, port: int, remote: bool) -> dict:
    runtime = json.loads(json.dumps(docker_deployment["runtime"]))
    runtime.update(port=port, teardown="stop")  # each run starts its server and removes it: a clean slate
    if remote:
        runtime["host"] = ENGINE.split("//")[1].split(":")[0]  # published on the GPU host's address,
        runtime["api_key_env"] = API_KEY_VAR  # so clients must present a key
        runtime["docker"].update(engine=ENGINE, tls=TLS.model_dump())
    return {**docker_deployment, "runtime": runtime}


@pytest.fixture(scope="module")
def fleet_env(test_configs, tmp_path_factory, pg_url, docker_client, gpu_host_engine):
    """A config folder with the four deployments, an EVAL_HOME and a DAGSTER_HOME of their own."""
    from resources.runtime.docker.container import remove_container

    root = tmp_path_factory.mktemp("fleet")
    configs = root / "configs"
    shutil.copytree(test_configs, configs)
    docker_deployment = yaml.safe_load((configs / "deployments" / f"tiny-cpu-docker-{SUFFIX}.yaml").read_text())
    for index, partition in enumerate(LOCAL + REMOTE):
        remote = partition in REMOTE and not ONE_HOST
        deployment = _deployment(docker_deployment, FLEET_PORT + index, remote)
        (configs / "deployments" / f"{partition}.yaml").write_text(yaml.safe_dump(deployment, sort_keys=False))
    env = {**os.environ, "EVAL_CONFIG_DIR": str(configs), "EVAL_HOME": str(root / "eval"),
           "DAGSTER_HOME": str(root / "eval" / "dagster"), "DAGSTER_PG_URL": pg_url, "PYTHONUNBUFFERED": "1",
           API_KEY_VAR: secrets.token_hex(16)}
    clean = lambda: ([remove_container(docker_client, p) for p in LOCAL + REMOTE],
                     [remove_container(gpu_host_engine, p) for p in REMOTE])
    clean()
    yield env
    clean()


@pytest.fixture(scope="module")
def fleet(fleet_env, tmp_path_factory):
    """``python -m pipelines fleet-up``: the daemon and the webserver over Postgres, stopped afterwards."""
    log_path = tmp_path_factory.mktemp("fleet-log") / "fleet-up.log"
    log = log_path.open("w")
    process = subprocess.Popen([sys.executable, "-m", "pipelines", "fleet-up", "--port", str(WEBSERVER_PORT),
                                "--max-runs", "4"], cwd=PROJECT_ROOT, env=fleet_env, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            assert process.poll() is None, f"fleet-up exited: {log_path.read_text()[-3000:]}"
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{WEBSERVER_PORT}/server_info", timeout=2)
                break
            except OSError:
                time.sleep(1)
        else:
            pytest.fail(f"the webserver did not answer within 180 s: {log_path.read_text()[-3000:]}")
        yield log_path
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # fleet-up's own session: only what it started
        log.close()


def _instance(env):
    from dagster import DagsterInstance
    from dagster._core.instance.ref import InstanceRef

    os.environ["DAGSTER_PG_URL"] = env["DAGSTER_PG_URL"]  # the instance reads it when it loads
    return DagsterInstance.from_ref(InstanceRef.from_dir(env["DAGSTER_HOME"]))


def _launch(env, partitions) -> dict[str, str]:
    launched = subprocess.run([sys.executable, "-m", "pipelines", "fleet-launch", *partitions,
                               "--port", str(WEBSERVER_PORT)], cwd=PROJECT_ROOT, env=env,
                              capture_output=True, text=True, timeout=120)
    assert launched.returncode == 0, launched.stderr[-3000:]
    return dict(re.findall(r"^(\S+): queued run (\S+)$", launched.stdout, re.M))


def _wait_for(instance, run_ids, log_path):
    from dagster import DagsterRunStatus, RunsFilter

    terminal = {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}
    deadline = time.monotonic() + RUNS_TIMEOUT_S
    while time.monotonic() < deadline:
        records = instance.get_run_records(filters=RunsFilter(run_ids=list(run_ids)))
        if len(records) == len(run_ids) and all(r.dagster_run.status in terminal for r in records):
            return records
        time.sleep(3)
    pytest.fail(f"runs not finished within {RUNS_TIMEOUT_S} s; fleet-up log: {log_path.read_text()[-3000:]}")


def _failure_of(instance, run_id: str) -> str:
    """The run's failure as its event log tells it: the failed step's error, else the run's message."""
    events = [e.dagster_event for e in instance.all_logs(run_id) if e.dagster_event]
    for event in events:
        if event.event_type_value == "STEP_FAILURE":
            return f"{event.step_key}: {event.event_specific_data.error.to_string()[-2500:]}"
    messages = [e.message for e in events if e.event_type_value in ("RUN_FAILURE", "ENGINE_EVENT") and e.message]
    return " | ".join(messages[-3:])


def _overlap(a, b) -> float:
    return max(0.0, min(a.end_time, b.end_time) - max(a.start_time, b.start_time))


def test_four_deployments_on_two_hosts_run_one_at_a_time_per_host_and_both_hosts_at_once(fleet_env, fleet, capsys):
    from dagster import DagsterRunStatus

    instance = _instance(fleet_env)
    launched_at = time.time()
    queued = _launch(fleet_env, LOCAL + REMOTE)
    assert sorted(queued) == sorted(LOCAL + REMOTE)
    records = _wait_for(instance, queued.values(), fleet)
    wall_s = max(r.end_time for r in records) - launched_at

    by_partition = {r.dagster_run.tags["dagster/partition"]: r for r in records}
    timeline = sorted(records, key=lambda r: r.start_time)
    with capsys.disabled():
        print(f"\n[figures] four deployments, {'one host' if ONE_HOST else 'two hosts'}, through the queue: "
              f"{wall_s:.1f} s from launch to the last end")
        for r in timeline:
            print(f"  {r.dagster_run.tags['gpu_host']:<16} {r.dagster_run.tags['dagster/partition']:<28} "
                  f"{r.start_time - launched_at:6.1f} s -> {r.end_time - launched_at:6.1f} s  "
                  f"{r.dagster_run.status.value}")
    failed = [p for p, r in by_partition.items() if r.dagster_run.status != DagsterRunStatus.SUCCESS]
    assert not failed, "runs failed:\n" + "\n".join(
        f"{p}: {_failure_of(instance, by_partition[p].dagster_run.run_id)}" for p in failed)

    hosts = {p: by_partition[p].dagster_run.tags["gpu_host"] for p in by_partition}
    assert len({hosts[p] for p in LOCAL}) == 1
    assert {hosts[p] for p in REMOTE} == ({hosts[LOCAL[0]]} if ONE_HOST else {"10.231.0.2"})
    # The per-host limit held: no two runs of one host overlapped.
    for a in by_partition:
        for b in by_partition:
            if a < b and hosts[a] == hosts[b]:
                assert _overlap(by_partition[a], by_partition[b]) == 0, f"{a} and {b} overlapped on {hosts[a]}"
    if not ONE_HOST:
        # The hosts worked in parallel: runs on different hosts overlapped in time.
        across = max(_overlap(by_partition[a], by_partition[b]) for a in LOCAL for b in REMOTE)
        assert across > 30, f"the two hosts' runs overlapped only {across:.1f} s"

    with duckdb.connect(str(Path(fleet_env["EVAL_HOME"]) / "results.duckdb"), read_only=True) as db:
        runs = db.execute("SELECT partition, run_id FROM runs").fetchall()
        bench = db.execute("SELECT partition, run_id, completed, failed FROM benchmark_results").fetchall()
    assert sorted(runs) == sorted(queued.items())
    assert sorted((p, r) for p, r, _, _ in bench) == sorted(queued.items())
    assert all(completed == 32 and failed == 0 for _, _, completed, failed in bench)
