"""The production instance's dagster.yaml and the checks fleet-up makes before starting anything."""

from __future__ import annotations

import yaml

from pipelines.__main__ import main
from pipelines.fleet import PG_URL_VAR, check_postgres, fleet_process_commands, redact_url, render_fleet_dagster_yaml


def test_the_profile_stores_in_postgres_from_the_environment_and_queues_one_run_per_gpu_host():
    config = yaml.safe_load(render_fleet_dagster_yaml(max_concurrent_runs=6))
    assert config["storage"] == {"postgres": {"postgres_url": {"env": PG_URL_VAR}}}
    assert config["run_coordinator"]["class"] == "QueuedRunCoordinator"
    runs = config["concurrency"]["runs"]
    assert runs["max_concurrent_runs"] == 6
    assert runs["tag_concurrency_limits"] == [
        {"key": "gpu_host", "value": {"applyLimitPerUniqueValue": True}, "limit": 1}
    ]
    assert config["run_monitoring"]["enabled"] is True


def test_a_url_with_a_password_is_never_printed_whole():
    url = "postgresql+psycopg2://eval:s3cret@db:5432/dagster"
    assert redact_url(url) == "postgresql+psycopg2://eval:***@db:5432/dagster"
    assert "s3cret" not in check_postgres("postgresql://eval:s3cret@db:5432/dagster")


def test_fleet_up_refuses_to_start_without_a_postgres_url_and_says_what_to_set(monkeypatch, capsys, tmp_path):
    monkeypatch.delenv(PG_URL_VAR, raising=False)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    assert main(["fleet-up"]) == 1
    err = capsys.readouterr().err
    assert f"{PG_URL_VAR} is not set: export {PG_URL_VAR}=postgresql+psycopg2://" in err
    assert not (tmp_path / "dagster" / "dagster.yaml").exists(), "nothing is written before the checks pass"


def test_a_bare_postgresql_scheme_is_refused_with_the_scheme_to_write():
    problem = check_postgres("postgresql://eval@db:5432/dagster")
    assert "write postgresql+psycopg2://eval@db:5432/dagster" in problem


def test_the_two_long_running_processes_are_the_daemon_and_the_webserver(tmp_path):
    commands = fleet_process_commands(tmp_path / "workspace.yaml", "0.0.0.0", 3000)
    assert sorted(commands) == ["dagster-daemon", "dagster-webserver"]
    assert commands["dagster-daemon"][1:] == ["run", "-w", str(tmp_path / "workspace.yaml")]
    assert commands["dagster-webserver"][-4:] == ["-h", "0.0.0.0", "-p", "3000"]
