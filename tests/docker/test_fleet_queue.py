"""One orchestrator, two GPU hosts: the production instance drives both through its run queue.

Real parts throughout: PostgreSQL on loopback (tests/docker/start_postgres.sh) holds Dagster's runs,
events and schedules; ``python -m pipelines fleet-up`` runs the real ``dagster-daemon`` and
``dagster-webserver``; ``python -m pipelines fleet-launch`` queues four deployments of the tiny
model at once through the webserver. Both hosts are Docker Engines in network namespaces of their
own, each with its own address, as two GPU hosts on a network are: two deployments go to the one
reached over tcp:// with TLS (10.231.0.2, tests/docker/start_gpu_host_engine.sh) and two to the one
reached over ssh:// through an OpenSSH server in its namespace (10.232.0.2,
tests/docker/start_ssh_host_engine.sh); each server publishes its port on its own host's address.
The queue admits one run per ``gpu_host`` tag, so the runs' own start and end times must show each
host's runs one after the other and the two hosts at work at the same time; every benchmark lands
in the one DuckDB file.

Then a host is lost mid-run: the ssh host's dockerd is killed (SIGKILL, as a host that loses power
leaves it) while vLLM starts in its run's container. That run fails with an error naming the engine
and its host; the run on the other host lands; the engine comes back (its start script, as an
operator would) and the next run of the same deployment finds the container left behind and
replaces it.
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
from urllib.parse import urlparse

import duckdb
import pytest
import yaml

from tests.docker import gpu_host, ssh_host
from tests.docker.fleet import ADMIN_URL, START_SCRIPT, database_url
from tests.prerequisites import missing

# Four runs, each starting a vLLM server in a container, then the fault test's two: past the default.
pytestmark = [pytest.mark.docker, pytest.mark.postgres, pytest.mark.vllm, pytest.mark.timeout(1800)]

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SUFFIX = os.environ["EVAL_TEST_DOCKER_SUFFIX"]  # set by tests/conftest.py, as the port offset
TEST_PORT_OFFSET = int(os.environ["EVAL_TEST_PORT_OFFSET"])  # set by tests/conftest.py
WEBSERVER_PORT = 8090 + TEST_PORT_OFFSET
# 8170-8175 (+ the offset): clear of the configs' own servers (8101, 8102), which earlier tests
# leave warm, and of the other test-only partitions (8189-8199 and the docker range 8230-8300).
FLEET_PORT = 8170 + TEST_PORT_OFFSET
TCP = [f"fleet-tcp-{n}-{SUFFIX}" for n in ("a", "b")]
SSH = [f"fleet-ssh-{n}-{SUFFIX}" for n in ("a", "b")]
# The fault test's pair: the ssh host's run loses its engine, the tcp host's goes on.
LOST, BESIDE = f"fleet-lost-ssh-{SUFFIX}", f"fleet-beside-tcp-{SUFFIX}"
RUNS_TIMEOUT_S = 600
# EVAL_FLEET_ONE_HOST=1 puts all four on the tcp host: the baseline the two-host wall time is
# compared with (the same four runs, one at a time).
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
        missing(f"dagster-postgres is not installed ({exc}): `make install` installs it")
    try:
        psycopg2.connect(ADMIN_URL, connect_timeout=5).close()
    except psycopg2.OperationalError as exc:  # nothing answers there, or it refused us
        missing(f"no PostgreSQL at {ADMIN_URL} ({str(exc).strip()}): run {START_SCRIPT} (as .ci/run does)")
    database = f"vllm_eval_fleet_{SUFFIX}"
    _admin(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
    _admin(f"CREATE DATABASE {database}")
    yield database_url(database)
    _admin(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")


def _deployment(docker_deployment: dict, port: int, host) -> dict:
    """The docker deployment on ``host`` (tests/docker/gpu_host or ssh_host), its server published on
    that host's address, so clients must present a key."""
    runtime = json.loads(json.dumps(docker_deployment["runtime"]))
    runtime.update(port=port, teardown="stop", api_key_env=API_KEY_VAR)  # each run starts its server and removes it
    runtime["host"] = urlparse(host.ENGINE).hostname
    runtime["docker"]["engine"] = host.ENGINE
    if host is gpu_host:
        runtime["docker"]["tls"] = host.TLS.model_dump()
    return {**docker_deployment, "runtime": runtime}


def _placement() -> dict[str, object]:
    """Which host each partition runs on."""
    fleet = {p: gpu_host for p in TCP} | {p: gpu_host if ONE_HOST else ssh_host for p in SSH}
    return fleet | {LOST: ssh_host, BESIDE: gpu_host}


@pytest.fixture(scope="module")
def fleet_env(test_configs, tmp_path_factory, pg_url, gpu_host_engine, ssh_host_engine):
    """A config folder with the fleet's deployments, an EVAL_HOME and a DAGSTER_HOME of their own."""
    from resources.runtime.docker.container import remove_container
    from resources.runtime.docker.engine import connect

    root = tmp_path_factory.mktemp("fleet")
    configs = root / "configs"
    shutil.copytree(test_configs, configs)
    docker_deployment = yaml.safe_load((configs / "deployments" / f"tiny-cpu-docker-{SUFFIX}.yaml").read_text())
    for index, (partition, host) in enumerate(_placement().items()):
        deployment = _deployment(docker_deployment, FLEET_PORT + index, host)
        (configs / "deployments" / f"{partition}.yaml").write_text(yaml.safe_dump(deployment, sort_keys=False))
    env = {
        **os.environ,
        "EVAL_CONFIG_DIR": str(configs),
        "EVAL_HOME": str(root / "eval"),
        "DAGSTER_HOME": str(root / "eval" / "dagster"),
        "DAGSTER_PG_URL": pg_url,
        "PYTHONUNBUFFERED": "1",
        API_KEY_VAR: secrets.token_hex(16),
    }

    def clean():
        ssh = connect(ssh_host.ENGINE, timeout_s=60)  # a new client: the fault test restarts that engine
        try:
            for partition in _placement():
                for client in (gpu_host_engine, ssh):
                    remove_container(client, partition)
        finally:
            ssh.close()

    clean()
    yield env
    clean()


@pytest.fixture(scope="module")
def fleet(fleet_env, tmp_path_factory):
    """``python -m pipelines fleet-up``: the daemon and the webserver over Postgres, stopped afterwards."""
    log_path = tmp_path_factory.mktemp("fleet-log") / "fleet-up.log"
    log = log_path.open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "pipelines", "fleet-up", "--port", str(WEBSERVER_PORT), "--max-runs", "4"],
        cwd=PROJECT_ROOT,
        env=fleet_env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
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
    launched = subprocess.run(
        [sys.executable, "-m", "pipelines", "fleet-launch", *partitions, "--port", str(WEBSERVER_PORT)],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
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
            error, messages = event.event_specific_data.error, []
            while error is not None:  # Dagster's wrapper first, then what the step raised
                messages.append(error.message.strip())
                error = error.cause
            return f"{event.step_key}: " + " <- ".join(messages)
    messages = [e.message for e in events if e.event_type_value in ("RUN_FAILURE", "ENGINE_EVENT") and e.message]
    return " | ".join(messages[-3:])


def _overlap(a, b) -> float:
    return max(0.0, min(a.end_time, b.end_time) - max(a.start_time, b.start_time))


def _timeline(title: str, records, launched_at: float) -> str:
    lines = [title]
    for r in sorted(records, key=lambda r: r.start_time):
        lines.append(
            f"  {r.dagster_run.tags['gpu_host']:<12} {r.dagster_run.tags['dagster/partition']:<28} "
            f"{r.start_time - launched_at:6.1f} s -> {r.end_time - launched_at:6.1f} s  "
            f"{r.dagster_run.status.value}"
        )
    return "\n".join(lines)


def _rows_per_partition(env, table: str, run_ids) -> dict[str, int]:
    with duckdb.connect(str(Path(env["EVAL_HOME"]) / "results.duckdb"), read_only=True) as db:
        return dict(
            db.execute(
                f"SELECT partition, count(*) FROM {table} WHERE run_id IN "
                f"({', '.join('?' for _ in run_ids)}) GROUP BY partition",
                list(run_ids),
            ).fetchall()
        )


def _scenarios(env, partition: str) -> int:
    """The benchmark scenarios the partition's config lists: one benchmark_results row each per run."""
    config = Path(env["EVAL_CONFIG_DIR"]) / "deployments" / f"{partition}.yaml"
    return len(yaml.safe_load(config.read_text())["benchmarks"])


def _assert_succeeded(instance, by_partition, partitions) -> None:
    from dagster import DagsterRunStatus

    failed = [p for p in partitions if by_partition[p].dagster_run.status != DagsterRunStatus.SUCCESS]
    assert not failed, "runs failed:\n" + "\n".join(
        f"{p}: {_failure_of(instance, by_partition[p].dagster_run.run_id)}" for p in failed
    )


def test_four_deployments_on_two_hosts_run_one_at_a_time_per_host_and_both_hosts_at_once(fleet_env, fleet, capsys):
    instance = _instance(fleet_env)
    launched_at = time.time()
    queued = _launch(fleet_env, TCP + SSH)
    assert sorted(queued) == sorted(TCP + SSH)
    records = _wait_for(instance, queued.values(), fleet)
    wall_s = max(r.end_time for r in records) - launched_at

    by_partition = {r.dagster_run.tags["dagster/partition"]: r for r in records}
    with capsys.disabled():
        print(
            "\n"
            + _timeline(
                f"[figures] four deployments, {'one host' if ONE_HOST else 'two hosts'}, through the "
                f"queue: {wall_s:.1f} s from launch to the last end",
                records,
                launched_at,
            )
        )
    _assert_succeeded(instance, by_partition, TCP + SSH)

    hosts = {p: by_partition[p].dagster_run.tags["gpu_host"] for p in by_partition}
    assert {hosts[p] for p in TCP} == {"10.231.0.2"}
    assert {hosts[p] for p in SSH} == ({"10.231.0.2"} if ONE_HOST else {"10.232.0.2"})
    # The per-host limit held: no two runs of one host overlapped.
    for a in by_partition:
        for b in by_partition:
            if a < b and hosts[a] == hosts[b]:
                assert _overlap(by_partition[a], by_partition[b]) == 0, f"{a} and {b} overlapped on {hosts[a]}"
    if not ONE_HOST:
        # The hosts worked in parallel: runs on different hosts overlapped in time.
        across = max(_overlap(by_partition[a], by_partition[b]) for a in TCP for b in SSH)
        assert across > 30, f"the two hosts' runs overlapped only {across:.1f} s"

    # Every run left its row and one benchmark row per scenario, under its own run id, in the one DuckDB file.
    assert _rows_per_partition(fleet_env, "runs", queued.values()) == {p: 1 for p in queued}
    assert _rows_per_partition(fleet_env, "benchmark_results", queued.values()) == {
        p: _scenarios(fleet_env, p) for p in queued
    }
    with duckdb.connect(str(Path(fleet_env["EVAL_HOME"]) / "results.duckdb"), read_only=True) as db:
        runs = db.execute("SELECT partition, run_id FROM runs WHERE partition IN ?", [TCP + SSH]).fetchall()
        bench = db.execute(
            "SELECT partition, run_id, completed, failed FROM benchmark_results WHERE partition IN ?", [TCP + SSH]
        ).fetchall()
    assert sorted(runs) == sorted(queued.items())
    assert sorted((p, r) for p, r, _, _ in bench) == sorted(queued.items())
    assert all(completed == 32 and failed == 0 for _, _, completed, failed in bench)


def _wait_for_message(instance, run_id: str, text: str, log_path, timeout_s: float = 300) -> None:
    """Until a log line of the run contains ``text``; fails with the run's state if it never does."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if any(text in (e.user_message or "") for e in instance.all_logs(run_id)):
            return
        run = instance.get_run_by_id(run_id)
        assert not run.is_finished, (
            f"run {run_id} ended ({run.status.value}) before logging '{text}': {_failure_of(instance, run_id)}"
        )
        time.sleep(1)
    pytest.fail(f"run {run_id} did not log '{text}' within {timeout_s} s; fleet-up log: {log_path.read_text()[-3000:]}")


def _restart_ssh_engine() -> None:
    started = subprocess.run(["bash", str(ssh_host.START_SCRIPT)], capture_output=True, text=True, timeout=300)
    assert started.returncode == 0, f"{ssh_host.START_SCRIPT} failed: {(started.stderr or started.stdout)[-2000:]}"


def test_an_engine_lost_mid_run_fails_that_run_naming_its_host_and_the_next_run_replaces_its_container(
    fleet_env, fleet, capsys
):
    from resources.runtime.docker.engine import connect
    from resources.runtime.docker.spec import container_name

    instance = _instance(fleet_env)
    launched_at = time.time()
    queued = _launch(fleet_env, [LOST, BESIDE])
    try:
        # vLLM is starting in its container when the host goes. Not earlier: a dockerd killed while it
        # starts a container leaves runc's half-made container, and its address on the bridge, behind.
        _wait_for_message(instance, queued[LOST], "start-up phase reached:", fleet)
        os.kill(int(ssh_host.DOCKERD_PIDFILE.read_text()), signal.SIGKILL)
        lost_at = time.time()
        records = _wait_for(instance, queued.values(), fleet)
    finally:
        _restart_ssh_engine()  # later tests use that engine: it is left running whatever happened here
    by_partition = {r.dagster_run.tags["dagster/partition"]: r for r in records}
    with capsys.disabled():
        print(
            "\n"
            + _timeline(
                f"[figures] the ssh host's dockerd killed {lost_at - launched_at:.1f} s after launch",
                records,
                launched_at,
            )
        )

    from dagster import DagsterRunStatus

    assert by_partition[LOST].dagster_run.status == DagsterRunStatus.FAILURE
    error = _failure_of(instance, queued[LOST])
    print(f"--- the lost run's error\n{error}")
    assert f"the Docker Engine at {ssh_host.ENGINE} (GPU host {ssh_host.ADDRESS}) stopped answering" in error
    assert "runs on other hosts go on" in error
    _assert_succeeded(instance, by_partition, [BESIDE])
    assert _rows_per_partition(fleet_env, "benchmark_results", queued.values()) == {
        BESIDE: _scenarios(fleet_env, BESIDE)
    }, "the lost run left no result; the other host's run left its own"

    # The engine is back (no live-restore: its restart stopped the container, which stays behind).
    client = connect(ssh_host.ENGINE, timeout_s=60)
    try:
        stale = client.containers.get(container_name(LOST))
        assert stale.status == "exited", f"after the engine's restart its container is {stale.status}"
        again = _launch(fleet_env, [LOST])
        [record] = _wait_for(instance, again.values(), fleet)
        _assert_succeeded(instance, {LOST: record}, [LOST])
        messages = [e.user_message for e in instance.all_logs(again[LOST])]
        replaced = (
            f"found stale container {container_name(LOST)} ({stale.short_id}, exited), not reusable: replacing it"
        )
        assert any(replaced in m for m in messages), f"no '{replaced}' in the run's log"
        with capsys.disabled():
            print(
                f"--- the next run on the returned host: {record.dagster_run.status.value} in "
                f"{record.end_time - record.start_time:.1f} s; its log: {replaced}"
            )
        assert client.containers.list(all=True, filters={"name": container_name(LOST)}) == [], (
            "teardown: stop removes the new container at the end of the run"
        )
    finally:
        client.close()
    assert _rows_per_partition(fleet_env, "benchmark_results", again.values()) == {LOST: _scenarios(fleet_env, LOST)}
