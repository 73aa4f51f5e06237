from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from resources.comparison import latest_results, render_comparison_markdown
from resources.dagster_resources import ResultsDatabase
from resources.eval_home import reports_dir


@asset(
    group_name="reporting",
    kinds={"duckdb"},
    deps=["benchmark_results"],
    description="Every deployment's latest benchmark results side by side, from the results database.",
)
def comparison_report(context: AssetExecutionContext, results_db: ResultsDatabase) -> MaterializeResult:
    latest = latest_results(results_db.store())
    markdown = render_comparison_markdown(latest)
    folder = reports_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "comparison_report.md"
    path.write_text(markdown + "\n")
    context.log.info(f"report over {latest['partition'].nunique() if not latest.empty else 0} partitions: {path}")
    return MaterializeResult(metadata={
        "report": MetadataValue.md(markdown),
        "partitions": int(latest["partition"].nunique()) if not latest.empty else 0,
        "path": MetadataValue.path(str(path)),
    })
