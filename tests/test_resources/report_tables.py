"""Reading the comparison report's markdown back as a user reads it: a section's table, by row."""

from __future__ import annotations


def section_table(markdown: str, section: str) -> dict[str, dict[str, str]]:
    """The first table under ``## section``: each row by its first cell, as {header: cell}."""
    part = markdown.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in part.splitlines() if line.startswith("|")]
    cells = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]
    header = cells[0]
    return {row[0]: dict(zip(header, row)) for row in cells[2:]}
