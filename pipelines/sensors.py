from dagster import (
    DagsterRunStatus,
    RunFailureSensorContext,
    RunRequest,
    RunStatusSensorContext,
    run_failure_sensor,
    run_status_sensor,
)

from pipelines.jobs import deploy_and_evaluate, refresh_comparison_report


@run_status_sensor(
    run_status=DagsterRunStatus.SUCCESS,
    monitored_jobs=[deploy_and_evaluate],
    request_job=refresh_comparison_report,
    description="Rebuilds the comparison report after each successful evaluation.",
)
def report_after_evaluation(context: RunStatusSensorContext):
    return RunRequest(run_key=f"report-after-{context.dagster_run.run_id}")


@run_failure_sensor(
    monitored_jobs=[deploy_and_evaluate],
    description="Records every failed evaluation in the results database and stops the "
    "server it left, so a failure is visible in the history and holds no GPU.",
)
def record_failed_evaluation(context: RunFailureSensorContext):
    from pipelines.failure_cleanup import clean_up_failed_run

    clean_up_failed_run(
        context.dagster_run.run_id,
        context.dagster_run.tags.get("dagster/partition"),
        context.failure_event.message or "run failed",
        context.log.info,
    )
