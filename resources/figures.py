"""A figure, or that it is missing: the one test and the one way to print it, for every package.

A value that is not there arrives in several forms: None from Python, NaN from arithmetic or a
float column, pandas' NA or NaT where a DuckDB NULL was read into a frame. ``missing`` knows them
all, ``number`` turns whatever arrived into a float or None, and ``figure`` prints a number or,
where there is none, a dash ("n/a" or another word where the caller means something else by it,
e.g. a quantity nothing on this host could measure).
"""

from __future__ import annotations

import math

DASH = "–"
# pandas' NA and NaT, known by their types' names: this module is imported by command-line paths
# (``diagnose``) and hardware code that do without pandas, whose import alone takes 0.3 s.
_PANDAS_MISSING = ("NAType", "NaTType")


def missing(value) -> bool:
    """None, NaN, pandas' NA or NaT."""
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    return type(value).__name__ in _PANDAS_MISSING


def number(value) -> float | None:
    """The value as a float; None where it is missing or is not a number (a flag is not one)."""
    if isinstance(value, bool) or missing(value):
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) else value


def figure(value, spec: str = ",.1f", *, unit: str = "", per: float = 1, absent: str = DASH) -> str:
    """``value / per`` formatted with ``spec`` (``format``'s mini-language) and followed by ``unit``,
    or ``absent`` where the value is missing: ``figure(3 * 2**30, ".1f", unit="GiB", per=2**30)``
    is "3.0 GiB", ``figure(None)`` is "–"."""
    if missing(value):
        return absent
    text = format(float(value) / per, spec)
    return f"{text} {unit}" if unit else text
