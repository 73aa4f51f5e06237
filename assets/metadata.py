"""Plain values from ``resources/`` as Dagster metadata and check results."""

from pathlib import Path

from dagster import AssetCheckResult, AssetCheckSeverity, MetadataValue

from resources.report.run_summary import CheckOutcome, Markdown

SEVERITY = {"error": AssetCheckSeverity.ERROR, "warn": AssetCheckSeverity.WARN}


def dagster_metadata(values: dict) -> dict:
    """``Markdown`` text shown as markdown, a ``Path`` as a path, the rest as it is."""
    return {
        key: MetadataValue.md(str(value))
        if isinstance(value, Markdown)
        else MetadataValue.path(str(value))
        if isinstance(value, Path)
        else value
        for key, value in values.items()
    }


def check_result(outcome: CheckOutcome) -> AssetCheckResult:
    return AssetCheckResult(
        check_name=outcome.name,
        passed=outcome.passed,
        severity=SEVERITY[outcome.severity],
        description=outcome.description,
        metadata=dagster_metadata(outcome.metadata),
    )
