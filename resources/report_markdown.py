"""The report as markdown: for the Dagster asset's metadata and ``reports/comparison_report.md``."""

from __future__ import annotations

from resources.report_sections import Section


def render_markdown(sections: list[Section], images: dict[str, str] | None = None) -> str:
    """``images`` maps a chart key to what the markdown links to (a file name beside the .md file).

    Without an entry a chart is left out: the Dagster UI's markdown drops ``data:`` image sources
    (its sanitizer allows only http and https), so the metadata links to the files instead.
    """
    images = images or {}
    lines: list[str] = []
    for section in sections:
        lines += ["#" * section.level + " " + section.title, ""]
        for paragraph in section.paragraphs:
            lines += [paragraph, ""]
        if section.chart and section.chart in images:
            lines += [f"![{section.chart_alt or section.chart}]({images[section.chart]})", ""]
        for table in section.tables:
            if table.caption:
                lines += ["#" * (section.level + 1) + " " + table.caption, ""]
            if table.frame.empty:
                lines += ["(none)", ""]
                continue
            lines += [table.frame.to_markdown(index=False, disable_numparse=True), ""]
    return "\n".join(lines).rstrip() + "\n"
