from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from resources.config.eval_home import reports_dir
from resources.dagster_resources import DeploymentCatalog, ResultsDatabase
from resources.report.sections import accuracy_drop_count, slower_count


@asset(
    kinds={"duckdb"},
    deps=["benchmark_results"],
    description="How well each deployment answers beside how fast it is, which deployment is best, whether the "
    "last run got slower, lost accuracy or drifted, how far each result is from the memory-bandwidth bound, and "
    "each deployment's history: markdown here, HTML and PNG charts under EVAL_HOME/reports/.",
)
def comparison_report(
    context: AssetExecutionContext, results_db: ResultsDatabase, deployments: DeploymentCatalog
) -> MaterializeResult:
    # Imported here: the charts pull in matplotlib (most of a second on 2 cores), which every
    # other run (deploy_and_evaluate loads these definitions too) would pay for nothing.
    from resources.report.build import build_report

    # Each deployment's own regression policy: the report judges exactly as its no_regression check.
    # Its configs also say which deployments have no accuracy to show (random weights, no evaluation set).
    report = build_report(
        results_db.store(),
        reports_dir(),
        policies=deployments.regression_policies(),
        accuracy_na=deployments.accuracy_not_measured(),
    )
    latest = report.data.latest
    partitions = int(latest["partition"].nunique()) if not latest.empty else 0
    context.log.info(f"report over {partitions} partitions in {sum(report.seconds.values()):.2f} s: {report.html_path}")
    return MaterializeResult(
        metadata={
            "report": MetadataValue.md(report.markdown),
            "partitions": partitions,
            "slower_results": slower_count(latest),
            "accuracy_drops": accuracy_drop_count(report.data.accuracy),
            "drift_events": report.data.drift_total,
            # The UI's markdown shows no embedded images; the HTML file has the charts inside it.
            "html": MetadataValue.path(str(report.html_path)),
            "path": MetadataValue.path(str(report.markdown_path)),
            **{f"chart_{key}": MetadataValue.path(str(path)) for key, path in report.charts.items()},
        }
    )
