"""The report as markdown: for the Dagster asset's metadata and ``reports/comparison_report.md``."""

from __future__ import annotations

import pandas as pd

from resources.report.sections import Section


def markdown_table(frame: pd.DataFrame, pad: bool = True) -> str:
    """A GitHub-style pipe table of the frame's cells as text, columns padded to line up (``pad``;
    unpadded where the text's length matters, as in the Dagster UI, which folds markdown metadata
    of 1,000 characters or more behind a "Show Markdown" link).

    Written out here rather than with ``DataFrame.to_markdown`` (tabulate): the report's cells are
    already strings, and tabulate's type guessing is most of the report's rendering time.
    """
    header = [str(c).replace("|", "\\|") for c in frame.columns]
    rows = [
        [str(v).replace("|", "\\|").replace("\n", " ") for v in row] for row in frame.to_numpy(dtype=object).tolist()
    ]
    widths = [max([len(h), 3, *(len(r[i]) for r in rows)]) if pad else 3 for i, h in enumerate(header)]
    line = lambda cells: "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"  # noqa: E731
    return "\n".join([line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)])


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
            lines += [markdown_table(table.frame) if not table.frame.empty else "(none)", ""]
            if table.footnotes:  # what the cells' "[n]" point to, below the table
                lines += [*(f"- [{n}] {text}" for n, text in enumerate(table.footnotes, 1)), ""]
    return "\n".join(lines).rstrip() + "\n"
