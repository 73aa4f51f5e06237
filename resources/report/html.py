"""The report as one self-contained HTML file: inline CSS, charts embedded as base64 PNG data URIs,
no scripts, fonts or styles from the network, so it opens offline and can be mailed as it is."""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

import pandas as pd

from resources.report.sections import Section

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; margin: 2rem auto;
       max-width: 1280px; padding: 0 1rem; color: #1d1d1f; line-height: 1.45; }
h1 { font-size: 1.6rem; border-bottom: 2px solid #ddd; padding-bottom: .3rem; }
h2 { font-size: 1.25rem; margin-top: 2.2rem; border-bottom: 1px solid #eee; padding-bottom: .2rem; }
h3 { font-size: 1rem; margin-top: 1.4rem; }
table { border-collapse: collapse; margin: .5rem 0 1rem; font-size: .82rem; }
th, td { border: 1px solid #ddd; padding: .25rem .5rem; text-align: right; white-space: nowrap; }
th { background: #f5f5f7; position: sticky; top: 0; }
td:first-child, th:first-child { text-align: left; }
tbody tr:nth-child(even) { background: #fafafa; }
td strong { color: #b00020; }
code { background: #f2f2f2; padding: 0 .25rem; border-radius: 3px; font-size: .9em; }
figure { margin: 1rem 0; }
figure img { max-width: 100%; border: 1px solid #eee; }
.wide { overflow-x: auto; }
ol.notes { font-size: .82rem; color: #444; margin-top: -.5rem; list-style: none; padding-left: 0; }
ol.notes li:target { background: #fff3c4; }
"""


def inline(text: str) -> str:
    """Escapes HTML, then turns the sections' light markdown (`code`, **bold**) into tags."""
    escaped = html.escape(str(text), quote=False)
    escaped = re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)
    return re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", escaped)


def data_uri(png: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(png).read_bytes()).decode("ascii")


def _table(frame: pd.DataFrame, footnotes: list[str], name: str) -> str:
    """The table, and its footnotes below it: a cell's "[n]" links to note n and shows its full text
    on hover (a title), so the row stays short."""
    if frame.empty:
        return "<p>(none)</p>"

    def cell(value) -> str:
        text = inline(value)
        if not footnotes:
            return text
        return re.sub(r"\[(\d+)\]", lambda m: _marker(m, footnotes, name), text)

    head = "".join(f"<th>{inline(c)}</th>" for c in frame.columns)
    body = "\n".join(
        "<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>" for row in frame.to_numpy(dtype=object).tolist()
    )
    table = f'<div class="wide"><table><thead><tr>{head}</tr></thead><tbody>\n{body}\n</tbody></table></div>'
    if footnotes:
        table += (
            '\n<ol class="notes">'
            + "".join(f'<li id="{name}-{n}">[{n}] {inline(text)}</li>' for n, text in enumerate(footnotes, 1))
            + "</ol>"
        )
    return table


def _marker(match: re.Match, footnotes: list[str], name: str) -> str:
    n = int(match.group(1))
    if not 1 <= n <= len(footnotes):
        return match.group(0)
    return f'<a href="#{name}-{n}" title="{html.escape(footnotes[n - 1])}">[{n}]</a>'


def render_html(sections: list[Section], charts: dict[str, Path], title: str = "vLLM comparison report") -> str:
    parts, tables = [], 0
    for section in sections:
        level = min(section.level, 5)
        parts.append(f"<h{level}>{inline(section.title)}</h{level}>")
        parts += [f"<p>{inline(p)}</p>" for p in section.paragraphs]
        if section.chart and section.chart in charts:
            parts.append(
                f'<figure><img src="{data_uri(charts[section.chart])}" '
                f'alt="{html.escape(section.chart_alt or section.chart)}"></figure>'
            )
        for table in section.tables:
            if table.caption:
                parts.append(f"<h{level + 1}>{inline(table.caption)}</h{level + 1}>")
            tables += 1
            parts.append(_table(table.frame, table.footnotes, f"table{tables}-note"))
    body = "\n".join(parts)
    return (
        f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )
