from dagster import DagsterRunStatus, RunRequest, RunStatusSensorContext, run_status_sensor

from pipelines.jobs import deploy_and_evaluate, refresh_comparison_report


@run_status_sensor(run_status=DagsterRunStatus.SUCCESS, monitored_jobs=[deploy_and_evaluate],
                   request_job=refresh_comparison_report,
                   description="Rebuilds the comparison report after each successful evaluation.")
def report_after_evaluation(context: RunStatusSensorContext):
    return RunRequest(run_key=f"report-after-{context.dagster_run.run_id}")
