"""The one Definitions object: ``dagster job execute -m pipelines.definitions -j deploy_and_evaluate``."""

from dagster import Definitions, load_assets_from_package_module

import assets.deployment
import assets.reporting
from pipelines import fast_exit
from pipelines.jobs import deploy_and_evaluate, refresh_comparison_report
from pipelines.schedules import nightly_evaluation
from pipelines.sensors import record_failed_evaluation, report_after_evaluation
from resources.dagster_resources import DeploymentCatalog, ResultsDatabase

fast_exit.install()  # a run's process ends in 0.1 s instead of 2 after the run is recorded

defs = Definitions(
    assets=[
        # Each package is one group in the UI: the group is named here, once, not on every asset.
        *load_assets_from_package_module(assets.deployment, group_name="deployment"),
        *load_assets_from_package_module(assets.reporting, group_name="reporting"),
    ],
    jobs=[deploy_and_evaluate, refresh_comparison_report],
    schedules=[nightly_evaluation],
    sensors=[report_after_evaluation, record_failed_evaluation],
    resources={
        "deployments": DeploymentCatalog(),
        "results_db": ResultsDatabase(),  # EVAL_HOME/results.duckdb, found when a step opens it
    },
)
