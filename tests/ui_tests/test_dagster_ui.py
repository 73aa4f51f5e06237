"""The Dagster UI over real materializations, in a real browser: the asset graph, a partition's
benchmark results and the comparison report, each kept as a screenshot under test-artifacts/.

What a page should show is read from the webserver's /graphql (milliseconds), and the browser
must then render the same thing.
"""

from __future__ import annotations

import re

import pytest
from ui_support import PARTITION, graphql

# The UI shows a real run of the chain: without one in the session, ui_instance runs it.
pytestmark = [pytest.mark.browser, pytest.mark.vllm]

ASSETS = [
    "hardware_report",
    "vllm_image",
    "model_weights",
    "vllm_service",
    "smoke_test",
    "answer_accuracy",
    "benchmark_results",
    "comparison_report",
]
GROUPS = ["reporting", "deployment"]

LATEST_METADATA = """
query Latest($key: AssetKeyInput!, $partitions: [String!]) {
  assetOrError(assetKey: $key) {
    ... on Asset {
      assetMaterializations(limit: 1, partitions: $partitions) {
        partition
        runId
        metadataEntries {
          label
          ... on MarkdownMetadataEntry { mdStr }
          ... on FloatMetadataEntry { floatValue }
          ... on IntMetadataEntry { intValue }
        }
      }
    }
  }
}
"""


def _latest_metadata(base_url: str, asset: str, partition: str | None = None) -> dict:
    data = graphql(
        base_url, LATEST_METADATA, {"key": {"path": [asset]}, "partitions": [partition] if partition else None}
    )
    [materialization] = data["assetOrError"]["assetMaterializations"]
    assert materialization["partition"] == partition
    values = {
        entry["label"]: next((v for k, v in entry.items() if k != "label"), None)
        for entry in materialization["metadataEntries"]
    }
    return {"run_id": materialization["runId"], **values}


def _metadata_row(page, label: str):
    """The row of an asset page's metadata table whose first cell is the label (the summary's own
    table nests inside a row and has a column of the same name)."""
    return page.locator(f"xpath=//tr[td[1][normalize-space(.)='{label}']]")


def test_the_webserver_serves_the_eight_assets_with_the_nux_pop_up_off(webserver):
    data = graphql(webserver, "{ shouldShowNux assetNodes { assetKey { path } } }")
    assert sorted(node["assetKey"]["path"][0] for node in data["assetNodes"]) == sorted(ASSETS)
    assert data["shouldShowNux"] is False, "dagster.yaml's nux: {enabled: false} is not honored"


def test_the_asset_graph_shows_the_eight_assets(page, artifacts_dir):
    from playwright.sync_api import expect

    # Wide enough that the fitted graph stays zoomed in far enough for nodes to show their state
    # (zoomed further out, Dagster draws a node as its name alone).
    page.set_viewport_size({"width": 3000, "height": 1200})
    page.goto("/asset-groups")
    # Nodes live in the graph's SVG; the sidebar lists the same names outside it.
    graph = page.locator("svg foreignObject")
    # The global graph starts with each group collapsed: open them as a user does (the URL
    # records it), then reload so the graph is laid out and fitted with every asset in view
    # (nodes outside the view are not rendered at all).
    for group in GROUPS:
        graph.get_by_text(group, exact=True).first.click()
        expect(page).to_have_url(re.compile(f"expanded=.*{group}"))
    page.get_by_text("Hide navigation", exact=True).click()
    page.reload()
    for asset in ASSETS:
        expect(graph.get_by_text(asset, exact=True)).to_have_count(1)
    expect(graph.get_by_text("Loading", exact=False)).to_have_count(0)
    expect(page.get_by_role("dialog")).to_have_count(0)  # no pop-up over the page
    # The nodes carry the instance's state: partitions of the chain filled, the report materialized.
    node = graph.filter(has=page.get_by_text("benchmark_results", exact=True))
    expect(node).to_contain_text(re.compile(r"[1-9]\d*% filled"))
    node = graph.filter(has=page.get_by_text("comparison_report", exact=True))
    expect(node).to_contain_text("Materialized")
    page.screenshot(path=str(artifacts_dir / "ui-asset-graph.png"))


def test_a_partitions_benchmark_results_page_shows_its_metadata(page, webserver, artifacts_dir):
    from playwright.sync_api import expect

    expected = _latest_metadata(webserver, "benchmark_results", PARTITION)
    page.set_viewport_size({"width": 1900, "height": 1100})
    page.goto(f"/assets/benchmark_results?view=partitions&partition={PARTITION}")
    # The partition's latest materialization: the run that made it, then its metadata.
    expect(page.get_by_text("Latest materialization", exact=True)).to_be_visible()
    expect(page.get_by_text(expected["run_id"][:8], exact=True)).to_be_visible()
    throughput = _metadata_row(page, "output_throughput").locator("xpath=./td[2]")
    expect(throughput).to_have_count(1)
    assert float(throughput.inner_text()) == pytest.approx(expected["output_throughput"])
    assert expected["output_throughput"] > 0
    expect(_metadata_row(page, "completed").locator("xpath=./td[2]")).to_have_text(str(expected["completed"]))
    # The summary is markdown, rendered as a table with a row per scenario.
    summary = _metadata_row(page, "summary").locator("table")
    expect(summary).to_have_count(1)
    expect(summary.get_by_role("columnheader", name="output_throughput")).to_be_visible()
    scenarios = [line.split("|")[1].strip() for line in expected["summary"].splitlines()[2:]]
    assert "short-burst" in scenarios
    for scenario in scenarios:
        expect(summary.get_by_role("cell", name=scenario, exact=True)).to_be_visible()
    page.screenshot(path=str(artifacts_dir / "ui-benchmark-results-partition.png"))


def test_the_comparison_report_renders_as_markdown_on_its_asset_page(page, webserver, artifacts_dir):
    from playwright.sync_api import expect

    markdown = _latest_metadata(webserver, "comparison_report")["report"]
    [title] = [line[2:].strip() for line in markdown.splitlines() if line.startswith("# ")][:1]
    page.set_viewport_size({"width": 1600, "height": 1400})
    page.goto("/assets/comparison_report")
    _metadata_row(page, "report").get_by_text("Show Markdown").click()
    dialog = page.get_by_role("dialog")
    heading = dialog.get_by_role("heading", name=title, exact=True)
    expect(heading).to_be_visible()
    # Rendered, not shown as source: tables are tables, and the latest run of the partition is in them.
    expect(dialog.locator("table").first).to_be_visible()
    expect(dialog.get_by_role("columnheader", name="TTFT mean ms").first).to_be_visible()
    expect(dialog.get_by_role("cell", name=PARTITION, exact=True).first).to_be_visible()
    expect(dialog.get_by_role("cell", name="short-burst", exact=True).first).to_be_visible()
    assert not re.search(r"\|\s*:?-{3}", dialog.inner_text()), "a markdown table shown as source"
    heading.scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts_dir / "ui-comparison-report.png"))
