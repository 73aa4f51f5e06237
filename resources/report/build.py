"""The whole comparison report from a results database to files: queries, charts, markdown, HTML.

Plain Python (the Dagster asset is a thin wrapper), so the report can be built and timed without
Dagster: ``benchmarks/report_speed.py`` does that over a synthetic history.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from resources.report.charts import draw_charts
from resources.report.data import ComparisonData, load_comparison
from resources.report.html import render_html
from resources.report.markdown import render_markdown
from resources.report.sections import build_sections
from resources.results.store import ResultsStore

MARKDOWN_NAME = "comparison_report.md"
HTML_NAME = "comparison_report.html"


@dataclass
class Report:
    data: ComparisonData
    markdown: str  # for the asset's metadata: no images (the Dagster UI drops data: sources)
    markdown_path: Path  # the same, with the charts linked by file name
    html_path: Path
    charts: dict[str, Path]
    seconds: dict[str, float] = field(default_factory=dict)  # time per stage


def build_report(
    store: ResultsStore,
    folder: Path,
    history_runs: int = 10,
    policies: dict | None = None,
    accuracy_na: dict[str, str] | None = None,
) -> Report:
    """``policies``: partition -> its RegressionPolicy (see ``load_comparison``); ``accuracy_na``:
    partition -> why it has no accuracy ("n/a: random weights"), shown instead of any score."""
    seconds, started = {}, time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal started
        now = time.perf_counter()
        seconds[stage] = now - started
        started = now

    data = load_comparison(store, history_runs=history_runs, policies=policies)
    lap("queries")
    folder.mkdir(parents=True, exist_ok=True)
    charts = draw_charts(data, folder)
    lap("charts")
    sections = build_sections(data, set(charts), accuracy_na)
    markdown = render_markdown(sections)
    markdown_path = folder / MARKDOWN_NAME
    markdown_path.write_text(render_markdown(sections, {k: p.name for k, p in charts.items()}))
    html_path = folder / HTML_NAME
    html_path.write_text(render_html(sections, charts))
    lap("render")
    return Report(data, markdown, markdown_path, html_path, charts, seconds)
