"""``python -m pipelines`` on a likely mistake: one line that says what is wrong and what to do,
never a traceback. Each test runs the real command in a fresh interpreter, as a user would."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipelines.fleet import render_fleet_dagster_yaml

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _command(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pipelines", *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def _one_line(result: subprocess.CompletedProcess) -> str:
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_fleet_launch_without_a_webserver_says_none_answers_and_how_to_start_or_find_one():
    port = _free_port()
    result = _command("fleet-launch", "tiny-cpu-eager", "--port", str(port))
    line = _one_line(result)
    assert result.returncode == 1
    assert f"no Dagster webserver answers at http://127.0.0.1:{port}" in line
    assert f"python -m pipelines fleet-up --host 127.0.0.1 --port {port}" in line and "--port" in line


@pytest.fixture
def something_else_listening():
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        yield port
    finally:
        # SIGKILL: a child inherits the test process's ignored signals, and something earlier in a
        # full session (a server's shutdown handling) may have left SIGTERM ignored
        server.kill()
        server.wait(timeout=10)


def test_fleet_launch_at_a_port_where_something_else_answers_says_it_is_not_dagster(something_else_listening):
    result = _command("fleet-launch", "tiny-cpu-eager", "--port", str(something_else_listening))
    assert result.returncode == 1
    assert "answers, but not as a Dagster webserver" in _one_line(result)


def test_fleet_launch_of_an_unknown_deployment_names_the_known_ones():
    result = _command("fleet-launch", "tiny-cpu-eagre", "--port", str(_free_port()))
    line = _one_line(result)
    assert result.returncode == 1
    assert "no deployment tiny-cpu-eagre under configs/deployments/" in line and "tiny-cpu-eager" in line


@pytest.fixture
def broken_configs(test_configs, tmp_path):
    configs = tmp_path / "configs"
    shutil.copytree(test_configs, configs)
    path = configs / "deployments" / "tiny-cpu-eager.yaml"
    path.write_text(path.read_text().replace("params: cpu-eager", "params: cpu-eagre"))
    return configs


@pytest.mark.parametrize("args", [["demo"], ["fleet-launch"], ["plan", "tiny-cpu-eager"]])
def test_a_config_mistake_names_the_file_field_and_fix_in_one_line(args, broken_configs, tmp_path):
    result = _command(*args, env={"EVAL_CONFIG_DIR": str(broken_configs), "EVAL_HOME": str(tmp_path / "eval")})
    line = _one_line(result)
    assert result.returncode == 2
    assert f"{broken_configs / 'deployments' / 'tiny-cpu-eager.yaml'}: params: 'cpu-eagre' not found" in line
    assert "Available: " in line and "cpu-eager" in line


def test_demo_on_the_production_instance_without_its_postgres_url_says_which_variable_to_set(tmp_path):
    home = tmp_path / "eval"
    (home / "dagster").mkdir(parents=True)
    (home / "dagster" / "dagster.yaml").write_text(render_fleet_dagster_yaml())  # what fleet-up leaves there
    env = {k: v for k, v in os.environ.items() if k not in ("DAGSTER_PG_URL", "DAGSTER_HOME")}
    result = subprocess.run(
        [sys.executable, "-m", "pipelines", "demo"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**env, "EVAL_HOME": str(home)},
    )
    line = _one_line(result)
    assert result.returncode == 1
    assert f"{home / 'dagster' / 'dagster.yaml'} reads $DAGSTER_PG_URL, which is not set" in line
    assert "DAGSTER_HOME" in line


def test_fleet_up_with_a_missing_workspace_file_says_so(tmp_path):
    result = _command("fleet-up", "--workspace", str(tmp_path / "workspace.yaml"))
    assert result.returncode == 1
    assert f"{tmp_path / 'workspace.yaml'}: no such workspace file" in _one_line(result)


@pytest.mark.parametrize(
    "args, complaint",
    [
        (["fleet-launch", "--port", "99999"], "99999 is not a TCP port"),
        (["fleet-up", "--port", "http"], "'http' is not a whole number"),
        (["fleet-up", "--max-runs", "0"], "0 is less than 1"),
    ],
)
def test_a_port_or_run_count_out_of_range_is_refused_before_anything_starts(args, complaint):
    result = _command(*args)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert complaint in result.stderr.strip().splitlines()[-1]
