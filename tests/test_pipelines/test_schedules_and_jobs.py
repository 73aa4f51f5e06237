"""The nightly schedule and the jobs, as the Dagster daemon and the command line see them."""

from datetime import datetime, timezone

from dagster import RunRequest, build_schedule_context

from pipelines.definitions import defs
from pipelines.schedules import nightly_evaluation
from resources.config.loader import load_deployments, load_sweep_points, sweep_partitions


def _tick(night):
    """The tick's run requests as the daemon gets them: tags resolved through the job."""
    context = build_schedule_context(scheduled_execution_time=night, repository_def=defs.get_repository_def())
    return list(nightly_evaluation.evaluate_tick(context).run_requests)


def test_the_nightly_schedule_requests_every_deployment_once_per_night_and_no_sweep_point():
    night = datetime(2026, 11, 26, 2, 0, tzinfo=timezone.utc)
    requests = _tick(night)
    assert all(isinstance(r, RunRequest) for r in requests)
    assert sorted(r.partition_key for r in requests) == sorted(load_deployments())
    assert {r.run_key for r in requests} == {f"2026-11-26:{p}" for p in load_deployments()}
    again = _tick(night)
    assert [r.run_key for r in again] == [r.run_key for r in requests], "a re-evaluated tick asks for the same runs"
    assert all(r.tags["gpu_host"] for r in requests)
    assert sweep_partitions() and not set(sweep_partitions()) & {r.partition_key for r in requests}


def test_the_run_queue_admits_one_run_per_gpu_host(eval_home):
    from dagster import DagsterInstance

    from pipelines.instance import ensure_dagster_home

    ensure_dagster_home()
    limits = DagsterInstance.get().get_concurrency_config().run_queue_config.tag_concurrency_limits
    assert {"key": "gpu_host", "value": {"applyLimitPerUniqueValue": True}, "limit": 1} in limits


def test_deployments_on_different_docker_hosts_get_different_gpu_host_tags(monkeypatch):
    import socket

    from resources.runtime import runtime_for

    qwen = load_deployments()["qwen3-30b-a3b-fp8-2x24gb"]

    def on_engine(engine):
        runtime = qwen.runtime.model_copy(update={"docker": qwen.runtime.docker.model_copy(update={"engine": engine})})
        return qwen.model_copy(update={"spec": qwen.spec.model_copy(update={"runtime": runtime})})

    def tag(engine):
        return runtime_for(on_engine(engine)).gpu_host()

    monkeypatch.delenv("DOCKER_HOST", raising=False)
    assert tag("ssh://ops@gpu-4090-box") == "gpu-4090-box"
    assert tag("ssh://ops@gpu-h200-box:2222") == "gpu-h200-box"
    assert tag("tcp://10.0.0.7:2376") == "10.0.0.7"
    # The local engine's GPUs are this machine's, as the process runtime's are.
    here = socket.gethostname()
    assert tag("unix:///var/run/docker.sock") == tag(None) == here
    assert runtime_for(load_deployments()["tiny-cpu-eager"]).gpu_host() == here
    # No engine in the file: DOCKER_HOST names it, as for the docker command line.
    monkeypatch.setenv("DOCKER_HOST", "ssh://ops@gpu-4090-box")
    assert tag(None) == "gpu-4090-box"


def test_the_job_covers_the_seven_partitioned_assets_and_the_report_job_the_report():
    chain = defs.resolve_job_def("deploy_and_evaluate")
    assert {k.to_user_string() for k in chain.asset_layer.executable_asset_keys} == {
        "hardware_report",
        "vllm_image",
        "model_weights",
        "vllm_service",
        "smoke_test",
        "answer_accuracy",
        "benchmark_results",
    }
    report = defs.resolve_job_def("refresh_comparison_report")
    assert {k.to_user_string() for k in report.asset_layer.executable_asset_keys} == {"comparison_report"}


def test_every_deployment_file_and_every_sweep_point_is_a_partition_of_the_job():
    chain = defs.resolve_job_def("deploy_and_evaluate")
    assert sorted(chain.partitions_def.get_partition_keys()) == sorted([*load_deployments(), *sweep_partitions()])


def test_a_backfill_of_the_job_queues_each_run_with_its_gpu_host_tag(tmp_path):
    """``dagster job backfill`` (or the job's "Launch backfill" in the UI) goes through the job's
    partitioned config, so the run queue's one-run-per-host limit holds for backfills too."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from dagster import DagsterInstance, DagsterRunStatus
    from dagster._core.instance.ref import InstanceRef

    from resources.runtime import runtime_for

    env = {**os.environ, "EVAL_HOME": str(tmp_path / "eval"), "DAGSTER_HOME": str(tmp_path / "eval" / "dagster")}
    subprocess.run(
        [sys.executable, "-c", "from pipelines.instance import ensure_dagster_home; ensure_dagster_home()"],
        env=env,
        check=True,
    )
    partitions = ["tiny-cpu-eager", "tiny-gpu-tp2", sweep_partitions()[0]]  # a sweep's point backfills alike
    backfill = subprocess.run(
        [
            str(Path(sys.executable).parent / "dagster"),
            "job",
            "backfill",
            "-m",
            "pipelines.definitions",
            "-j",
            "deploy_and_evaluate",
            "--partitions",
            ",".join(partitions),
            "--noprompt",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert backfill.returncode == 0, backfill.stdout[-2000:] + backfill.stderr[-2000:]
    instance = DagsterInstance.from_ref(InstanceRef.from_dir(env["DAGSTER_HOME"]))
    runs = instance.get_runs()  # no daemon here: they wait in the queue
    deployments = load_deployments() | load_sweep_points()
    assert {r.tags["dagster/partition"]: r.tags["gpu_host"] for r in runs} == {
        p: runtime_for(deployments[p]).gpu_host() for p in partitions
    }
    assert {r.status for r in runs} == {DagsterRunStatus.QUEUED}
