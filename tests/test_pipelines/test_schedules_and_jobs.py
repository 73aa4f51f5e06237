"""The nightly schedule and the jobs, as the Dagster daemon and the command line see them."""

from datetime import datetime, timezone

from dagster import RunRequest, build_schedule_context

from pipelines.definitions import defs
from pipelines.schedules import nightly_evaluation
from resources.config.loader import load_deployments


def test_the_nightly_schedule_requests_every_partition_once_per_night():
    night = datetime(2026, 11, 26, 2, 0, tzinfo=timezone.utc)
    requests = list(nightly_evaluation(build_schedule_context(scheduled_execution_time=night)))
    assert all(isinstance(r, RunRequest) for r in requests)
    assert sorted(r.partition_key for r in requests) == sorted(load_deployments())
    assert {r.run_key for r in requests} == {f"2026-11-26:{p}" for p in load_deployments()}
    again = list(nightly_evaluation(build_schedule_context(scheduled_execution_time=night)))
    assert [r.run_key for r in again] == [r.run_key for r in requests], "a re-evaluated tick asks for the same runs"
    assert all(r.tags["gpu_host"] for r in requests)


def test_the_run_queue_admits_one_run_per_gpu_host(eval_home):
    from dagster import DagsterInstance

    from pipelines.instance import ensure_dagster_home

    ensure_dagster_home()
    limits = DagsterInstance.get().get_concurrency_config().run_queue_config.tag_concurrency_limits
    assert {"key": "gpu_host", "value": {"applyLimitPerUniqueValue": True}, "limit": 1} in limits


def test_deployments_on_different_docker_hosts_get_different_gpu_host_tags():
    from resources.runtime import runtime_for

    deployments = load_deployments()
    hosts = {runtime_for(d).gpu_host() for d in deployments.values()}
    assert hosts, "every deployment names a host"


def test_the_job_covers_the_six_partitioned_assets_and_the_report_job_the_report():
    chain = defs.resolve_job_def("deploy_and_evaluate")
    assert {k.to_user_string() for k in chain.asset_layer.executable_asset_keys} == {
        "hardware_report", "vllm_image", "model_weights", "vllm_service", "smoke_test", "benchmark_results"}
    report = defs.resolve_job_def("refresh_comparison_report")
    assert {k.to_user_string() for k in report.asset_layer.executable_asset_keys} == {"comparison_report"}


def test_every_deployment_file_is_a_partition_of_the_job():
    chain = defs.resolve_job_def("deploy_and_evaluate")
    assert sorted(chain.partitions_def.get_partition_keys()) == sorted(load_deployments())
