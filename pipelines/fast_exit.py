"""Skip the garbage collector's last pass when a pipeline process exits.

A ``dagster job execute`` process holds a few million objects (Dagster, pandas, DuckDB, the
OpenAI client); at exit CPython tears its modules down and runs a full collection over all of
them, about two seconds on these 2 cores, after the run has already finished and been recorded.
``gc.freeze()`` at exit moves every object to the permanent generation, which that collection
skips. Nothing is lost that a normal exit guarantees: atexit handlers registered earlier (logging's
flush among them) still run, reference counting still frees what it frees, and files, DuckDB and
Dagster's SQLite storage are closed by the code that opened them, not by the collector.
"""

from __future__ import annotations

import atexit
import gc

_installed = False


def install() -> None:
    """Registers the freeze once per process (importing the definitions twice registers nothing new)."""
    global _installed
    if not _installed:
        atexit.register(gc.freeze)
        _installed = True
