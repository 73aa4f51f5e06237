"""Snapshots of the results database: DuckDB's ``EXPORT DATABASE`` to Parquet, rotated.

A snapshot is a folder ``<stem>-<UTC time>-<reason>`` under ``snapshots/`` beside the results
file (``EVAL_HOME/snapshots/`` by default) holding one Parquet file per table (zstd: a quarter
smaller than the default snappy, in the same time), DuckDB's ``schema.sql`` and ``load.sql``, and
``manifest.json`` (row counts per table, schema version, newest run). Parquet is an open format: any tool
reads a snapshot, and ``IMPORT DATABASE``
rebuilds the file from it. The folder is written under a hidden name beside its final one and
renamed into place when complete, so a crash never leaves a half snapshot that looks whole; only
the newest ``keep`` complete snapshots are kept.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import duckdb

KEEP_ENV = "EVAL_RESULTS_SNAPSHOTS_KEEP"
DEFAULT_KEEP = 10
MANIFEST = "manifest.json"
# A hidden folder this old is what a crashed snapshot left behind; younger ones may be in progress
# in another process (two runs can finish at once: read-only connections do not exclude each other).
STALE_PARTIAL_S = 3600


@dataclass(frozen=True)
class Snapshot:
    path: Path
    taken_at: str
    reason: str
    schema_version: int
    tables: dict[str, int]
    newest_run: dict | None
    seconds: float
    size_bytes: int

    def describe(self) -> str:
        rows = ", ".join(f"{n:,} {table}" for table, n in self.tables.items())
        return f"{self.path} ({self.reason}; {rows}; {self.size_bytes / 2**20:.2f} MiB in {self.seconds:.2f} s)"


def snapshot_folder(db_path: Path) -> Path:
    return Path(db_path).parent / "snapshots"


def keep_count(configured: int | None = None) -> int:
    """How many snapshots to keep: the configured count, else ``EVAL_RESULTS_SNAPSHOTS_KEEP``, else 10."""
    raw = configured if configured is not None else os.environ.get(KEEP_ENV, DEFAULT_KEEP)
    try:
        keep = int(raw)
    except ValueError:
        keep = 0
    if keep < 1:
        raise ValueError(
            f"{KEEP_ENV} (or ResultsDatabase.snapshots_keep): {raw!r} is not a whole number >= 1; "
            f"it is how many snapshots of the results database to keep (default {DEFAULT_KEEP})"
        )
    return keep


def snapshot_name(stem: str, taken_at: datetime, reason: str) -> str:
    """Names sort in the order the snapshots were taken."""
    return f"{stem}-{taken_at:%Y%m%dT%H%M%S.%fZ}-{reason}"


def names_to_drop(names: list[str], keep: int) -> list[str]:
    """All but the newest ``keep`` names."""
    ordered = sorted(names)
    return ordered[: max(len(ordered) - keep, 0)]


def list_snapshots(folder: Path, stem: str) -> list[Path]:
    """The complete snapshots of the database ``stem``, oldest first."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.name.startswith(f"{stem}-") and (p / MANIFEST).is_file())


def table_counts(connection: duckdb.DuckDBPyConnection) -> dict[str, int]:
    tables = [
        t
        for (t,) in connection.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = 'main' AND table_type = 'BASE TABLE' ORDER BY table_name"
        ).fetchall()
    ]
    return {t: connection.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}


def newest_run(connection: duckdb.DuckDBPyConnection) -> dict | None:
    if not connection.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'main' AND table_name = 'runs'"
    ).fetchone()[0]:
        return None
    row = connection.execute(
        "SELECT run_id, partition, status, finished_at FROM runs "
        "ORDER BY finished_at DESC NULLS LAST, started_at DESC NULLS LAST LIMIT 1"
    ).fetchone()
    if row is None:
        return None
    return {
        "run_id": row[0],
        "partition": row[1],
        "status": row[2],
        "finished_at": row[3].isoformat(sep=" ") if row[3] else None,
    }


def take_snapshot(
    connection: duckdb.DuckDBPyConnection, folder: Path, stem: str, keep: int, reason: str, schema_version: int
) -> Snapshot:
    """Exports the connection's database into a new snapshot, then drops all but the newest ``keep``.

    The export reads every block, so it also fails on a damaged file: then nothing is renamed into
    place and no older snapshot is dropped.
    """
    started = time.perf_counter()
    taken_at = datetime.now(timezone.utc)
    name = snapshot_name(stem, taken_at, reason)
    folder.mkdir(parents=True, exist_ok=True)
    _remove_stale_partials(folder)
    partial = folder / f".{name}.partial"
    try:
        connection.execute(f"EXPORT DATABASE '{_sql_path(partial)}' (FORMAT parquet, COMPRESSION zstd)")
        manifest = {
            "taken_at": taken_at.isoformat(),
            "reason": reason,
            "schema_version": schema_version,
            "tables": table_counts(connection),
            "newest_run": newest_run(connection),
        }
        (partial / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        final = folder / name
        partial.rename(final)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    for old in names_to_drop([p.name for p in list_snapshots(folder, stem)], keep):
        _remove(folder / old)
    return Snapshot(
        path=final,
        taken_at=manifest["taken_at"],
        reason=reason,
        schema_version=schema_version,
        tables=manifest["tables"],
        newest_run=manifest["newest_run"],
        seconds=time.perf_counter() - started,
        size_bytes=folder_size(final),
    )


def read_snapshot(path: Path) -> Snapshot:
    manifest = json.loads((path / MANIFEST).read_text())
    return Snapshot(
        path=path,
        taken_at=manifest["taken_at"],
        reason=manifest["reason"],
        schema_version=manifest["schema_version"],
        tables=manifest["tables"],
        newest_run=manifest["newest_run"],
        seconds=0.0,
        size_bytes=folder_size(path),
    )


def folder_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.iterdir() if f.is_file())


def _remove(path: Path) -> None:
    # Renamed first so that a deletion cut short never leaves something that looks like a snapshot.
    doomed = path.with_name(f".{path.name}.partial")
    try:
        path.rename(doomed)
    except FileNotFoundError:  # another process rotated it away first
        return
    shutil.rmtree(doomed, ignore_errors=True)


def _remove_stale_partials(folder: Path) -> None:
    for partial in folder.glob(".*.partial"):
        try:
            if time.time() - partial.stat().st_mtime > STALE_PARTIAL_S:
                shutil.rmtree(partial, ignore_errors=True)
        except FileNotFoundError:
            pass


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")
