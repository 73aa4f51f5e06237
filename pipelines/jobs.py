from dagster import AssetSelection, define_asset_job, in_process_executor

# In-process: the chain's steps are short wiring around long external work (the server, the
# benchmark), and a process per step would add seconds of start-up and imports to each.
deploy_and_evaluate = define_asset_job(
    name="deploy_and_evaluate",
    selection=AssetSelection.groups("deployment"),
    executor_def=in_process_executor,
    description="The whole chain for one deployment (partition): hardware report to benchmark results.",
)

refresh_comparison_report = define_asset_job(
    name="refresh_comparison_report",
    selection=AssetSelection.assets("comparison_report"),
    executor_def=in_process_executor,
    description="Rebuilds the comparison report from the results database.",
)
