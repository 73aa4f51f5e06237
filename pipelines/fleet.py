"""The production profile of the Dagster instance: one orchestrator driving several GPU hosts.

Run, event and schedule storage in PostgreSQL (``dagster-postgres``), the run queue admitting one run
per ``gpu_host`` tag value and at most ``max_concurrent_runs`` in all, and the two long-running
processes, ``dagster-daemon`` (which dequeues and launches runs and ticks the schedule) and
``dagster-webserver``. The Postgres URL is read from ``DAGSTER_PG_URL`` when the instance loads,
so the rendered ``dagster.yaml`` never holds a password. SQLite (``pipelines/instance.py``) stays the
embedded default for ``make demo`` and the tests that run in process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit, urlunsplit

import yaml

from pipelines.command_errors import CommandError
from pipelines.instance import instance_config
from resources.config.eval_home import dagster_home

PG_URL_VAR = "DAGSTER_PG_URL"
# SQLAlchemy 2.1 reads a bare postgresql:// as psycopg 3; dagster-postgres brings psycopg2.
PG_SCHEME = "postgresql+psycopg2"
DEFAULT_MAX_RUNS = 8


def render_fleet_dagster_yaml(max_concurrent_runs: int = DEFAULT_MAX_RUNS) -> str:
    """The production ``dagster.yaml``: Postgres storage from ``$DAGSTER_PG_URL``, the queued run
    coordinator with one run per GPU host and ``max_concurrent_runs`` in all."""
    if max_concurrent_runs < 1:
        raise ValueError(f"max_concurrent_runs must be at least 1, got {max_concurrent_runs}")
    config = instance_config(
        max_concurrent_runs,
        storage={"postgres": {"postgres_url": {"env": PG_URL_VAR}}},
        run_coordinator={"module": "dagster.core.run_coordinator", "class": "QueuedRunCoordinator"},
        run_monitoring={"enabled": True, "start_timeout_seconds": 300, "poll_interval_seconds": 15},
    )
    return f"""\
# The production profile (python -m pipelines fleet-up writes it). Storage for runs, events and
# schedules is PostgreSQL at ${PG_URL_VAR} (postgresql+psycopg2://user:password@host:5432/db), read
# when the instance loads: no password is written here. Runs wait in a queue the daemon drains:
# one run per distinct gpu_host tag (the host whose GPUs a deployment occupies; the nightly
# schedule and fleet-launch set it) and {max_concurrent_runs} in all. Run monitoring marks a run whose
# worker process died as failed, instead of letting it hold its host's slot in the queue for ever.
""" + yaml.safe_dump(config, sort_keys=False)


def redact_url(url: str) -> str:
    """The URL with its password replaced, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def check_postgres(url: str | None) -> str | None:
    """Why the instance cannot use Postgres at ``url``, or None when it can."""
    if not url:
        return (
            f"{PG_URL_VAR} is not set: export {PG_URL_VAR}={PG_SCHEME}://USER:PASSWORD@HOST:5432/DATABASE "
            "(a database the user owns; Dagster creates its tables there)"
        )
    scheme = urlsplit(url).scheme
    if scheme != PG_SCHEME:
        return (
            f"{PG_URL_VAR} starts with {scheme}://, which SQLAlchemy reads as a driver dagster-postgres does "
            f"not install: write {PG_SCHEME}://{redact_url(url).split('://', 1)[-1]}"
        )
    try:
        import dagster_postgres  # noqa: F401
        import psycopg2
    except ImportError as exc:
        return f"dagster-postgres is not installed ({exc}): `make install` installs it (pyproject.toml)"
    try:
        psycopg2.connect(urlunsplit(urlsplit(url)._replace(scheme="postgresql")), connect_timeout=5).close()
    except psycopg2.Error as exc:
        return f"cannot connect to {redact_url(url)} ({PG_URL_VAR}): {str(exc).strip()}"
    return None


def write_fleet_instance(home: Path | None = None, max_concurrent_runs: int = DEFAULT_MAX_RUNS) -> Path:
    """Writes the production ``dagster.yaml`` into DAGSTER_HOME (replacing the embedded one) and exports it."""
    home = home or dagster_home()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    config.write_text(render_fleet_dagster_yaml(max_concurrent_runs))
    os.environ["DAGSTER_HOME"] = str(home)
    return config


def fleet_process_commands(workspace: Path, host: str, port: int) -> dict[str, list[str]]:
    """The two long-running processes, by name: the daemon and the webserver, on one workspace."""
    bin_dir = Path(sys.executable).parent
    return {
        "dagster-daemon": [str(bin_dir / "dagster-daemon"), "run", "-w", str(workspace)],
        "dagster-webserver": [str(bin_dir / "dagster-webserver"), "-w", str(workspace), "-h", host, "-p", str(port)],
    }


def fleet_up(workspace: Path, host: str, port: int, max_concurrent_runs: int) -> int:
    """Brings the production instance up and supervises its two processes until one exits or a
    signal arrives, then stops the other: a service manager restarts the pair as one unit."""
    if not workspace.is_file():
        print(
            f"fleet-up: {workspace}: no such workspace file; run from the project root (workspace.yaml is "
            "there) or name it with --workspace",
            file=sys.stderr,
        )
        return 1
    problem = check_postgres(os.environ.get(PG_URL_VAR))
    if problem:
        print(f"fleet-up: {problem}", file=sys.stderr)
        return 1
    config = write_fleet_instance(max_concurrent_runs=max_concurrent_runs)
    print(
        f"fleet-up: {config} (Postgres at {redact_url(os.environ[PG_URL_VAR])}, "
        f"one run per gpu_host, {max_concurrent_runs} in all)",
        flush=True,
    )
    processes = {name: subprocess.Popen(argv) for name, argv in fleet_process_commands(workspace, host, port).items()}
    print(
        "fleet-up: "
        + ", ".join(f"{name} pid {p.pid}" for name, p in processes.items())
        + f"; the UI at http://{host}:{port}",
        flush=True,
    )
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append("SIGTERM"))
    try:
        while not stopping and all(p.poll() is None for p in processes.values()):
            time.sleep(0.5)
    except KeyboardInterrupt:
        stopping.append("SIGINT")
    exited = {name: p.returncode for name, p in processes.items() if p.poll() is not None}
    for p in processes.values():
        if p.poll() is None:
            p.terminate()
    for p in processes.values():
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
    if stopping:
        print(f"fleet-up: stopped on {stopping[0]}", flush=True)
        return 0
    print(
        f"fleet-up: {', '.join(f'{n} exited with {rc}' for n, rc in exited.items())}; stopped the other",
        file=sys.stderr,
        flush=True,
    )
    return 1


def check_webserver(webserver: str, port: int, timeout_s: float = 5.0) -> None:
    """Raises ``CommandError`` unless a Dagster webserver answers at ``webserver:port``."""
    url = f"http://{webserver}:{port}"
    try:
        with urllib.request.urlopen(f"{url}/server_info", timeout=timeout_s) as response:
            info = json.loads(response.read())
    except (urllib.error.HTTPError, ValueError):  # something answers there: not JSON, or no such page
        info = None
    except OSError as exc:  # refused, unreachable, timed out
        reason = getattr(exc, "reason", None) or exc
        raise CommandError(
            f"no Dagster webserver answers at {url} ({reason}): start one with `python -m pipelines "
            f"fleet-up --host {webserver} --port {port}`, or point at the running one with "
            "--host and --port"
        ) from None
    if not isinstance(info, dict) or "dagster_webserver_version" not in info:
        raise CommandError(
            f"{url} answers, but not as a Dagster webserver: point at the one fleet-up started with --host and --port"
        )


def launch_through_queue(
    partitions: list[str],
    webserver: str = "127.0.0.1",
    port: int = 3000,
    on_queued: Callable[[str, str], None] = lambda partition, run_id: None,
) -> dict[str, str]:
    """Submits one ``deploy_and_evaluate`` run per partition to the webserver's queue, each tagged
    with the host whose GPUs it occupies, and returns {partition: run id}; ``on_queued`` hears of
    each as it is queued. The daemon starts them as the per-host limit allows: different hosts at
    once, one host's runs one after another."""
    from dagster_graphql import DagsterGraphQLClient, DagsterGraphQLClientError

    from pipelines.jobs import gpu_host_tags
    from resources.config.loader import deployment_files, partition_key, sweep_partitions

    deployments = [partition_key(path) for path in deployment_files()]
    unknown = sorted(set(partitions) - set(deployments) - set(sweep_partitions()))
    if unknown:
        raise CommandError(
            f"no deployment {', '.join(unknown)} under configs/deployments/, nor a point of a sweep under "
            f"configs/sweeps/ (deployments: {', '.join(sorted(deployments))})"
        )
    check_webserver(webserver, port)
    client = DagsterGraphQLClient(webserver, port_number=port)
    queued = {}
    for partition in partitions:
        try:
            queued[partition] = client.submit_job_execution(
                "deploy_and_evaluate", tags={"dagster/partition": partition, **gpu_host_tags(partition)}
            )
        except DagsterGraphQLClientError as exc:
            first_line = next((line for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
            raise CommandError(
                f"{partition}: the webserver at http://{webserver}:{port} did not queue the run: {first_line.strip()}"
            ) from None
        on_queued(partition, queued[partition])
    return queued
