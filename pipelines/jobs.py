from dagster import AssetSelection, PartitionedConfig, define_asset_job, in_process_executor

from assets.partitions import deployment_partitions
from resources.config.loader import load_partition
from resources.runtime import runtime_for


def gpu_host_tags(partition_key: str) -> dict[str, str]:
    """The host whose GPUs a partition's run occupies, as the ``gpu_host`` tag the run queue limits
    to one run at a time: set on every run of the job, whether the nightly schedule, a backfill over
    partitions, the launchpad or ``fleet-launch`` started it."""
    return {"gpu_host": runtime_for(load_partition(partition_key)).gpu_host()}


# In-process: the chain's steps are short wiring around long external work (the server, the
# benchmark), and a process per step would add seconds of start-up and imports to each.
deploy_and_evaluate = define_asset_job(
    name="deploy_and_evaluate",
    selection=AssetSelection.groups("deployment"),
    executor_def=in_process_executor,
    config=PartitionedConfig(
        partitions_def=deployment_partitions,
        run_config_for_partition_key_fn=lambda _: {},
        tags_for_partition_key_fn=gpu_host_tags,
    ),
    description="The whole chain for one deployment (partition): hardware report to benchmark results.",
)

refresh_comparison_report = define_asset_job(
    name="refresh_comparison_report",
    selection=AssetSelection.assets("comparison_report"),
    executor_def=in_process_executor,
    description="Rebuilds the comparison report from the results database.",
)
