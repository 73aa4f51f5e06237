import os

from dagster import RunRequest, ScheduleEvaluationContext, schedule

from pipelines.jobs import deploy_and_evaluate
from resources.config.loader import load_deployments

NIGHTLY_CRON = os.environ.get("EVAL_NIGHTLY_CRON", "0 2 * * *")
NIGHTLY_TIMEZONE = os.environ.get("EVAL_NIGHTLY_TIMEZONE", "UTC")


@schedule(
    job=deploy_and_evaluate,
    cron_schedule=NIGHTLY_CRON,
    execution_timezone=NIGHTLY_TIMEZONE,
    description="Every deployment, every night; one run per partition, keyed by night.",
)
def nightly_evaluation(context: ScheduleEvaluationContext):
    # Hand-written: build_schedule_from_partitioned_job refuses static partitions. The run key
    # makes a re-evaluated tick for the same night a no-op instead of a second run. The gpu_host
    # tag (the run queue keeps two deployments off one host's GPUs) comes from the job's
    # partitioned config (pipelines/jobs.py), which Dagster applies to each request of the tick.
    night = context.scheduled_execution_time.strftime("%Y-%m-%d")
    for partition in load_deployments():
        yield RunRequest(run_key=f"{night}:{partition}", partition_key=partition, tags={"nightly": night})
