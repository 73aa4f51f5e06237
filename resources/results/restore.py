"""Rebuilding the results database from a snapshot, keeping the file it replaces.

The new file is built beside the old one under a temporary name with ``IMPORT DATABASE``, its
row counts are compared table by table with the snapshot's manifest, and only then is the old
file (and its write-ahead log) renamed aside, never deleted, and the new one renamed into place.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from resources.results.file_errors import is_held_elsewhere
from resources.results.snapshots import (
    MANIFEST,
    Snapshot,
    list_snapshots,
    newest_run,
    read_snapshot,
    snapshot_folder,
    table_counts,
)


class RestoreError(RuntimeError):
    pass


@dataclass(frozen=True)
class Restored:
    db_path: Path
    snapshot: Snapshot
    tables: dict[str, int]
    newest_run: dict | None
    kept_aside: list[Path]


def choose_snapshot(db_path: Path, name: str | None = None) -> Path:
    """The named snapshot (a folder name under the snapshot folder, or a path), else the newest."""
    folder = snapshot_folder(db_path)
    available = list_snapshots(folder, db_path.stem)
    if name is None:
        if not available:
            raise RestoreError(
                f"{folder}: no snapshot of {db_path.name} to restore from (a snapshot is taken "
                "after every run that writes results and before every schema migration)"
            )
        return available[-1]
    candidate = Path(name)
    if not candidate.exists():
        candidate = folder / name
    if not (candidate / MANIFEST).is_file():
        listing = "\n  ".join(p.name for p in reversed(available)) or "(none)"
        raise RestoreError(
            f"{name}: not a complete snapshot (no {MANIFEST} in it). Snapshots in {folder}, newest first:\n  {listing}"
        )
    return candidate


def restore_database(db_path: Path, snapshot_path: Path, supported_schema: int) -> Restored:
    db_path = Path(db_path)
    snapshot = read_snapshot(snapshot_path)
    if snapshot.schema_version > supported_schema:
        raise RestoreError(
            f"{snapshot_path}: schema version {snapshot.schema_version} is newer than this code's "
            f"{supported_schema}; restore it with the version of the project that took it"
        )
    _refuse_while_held(db_path)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    building = db_path.with_name(f"{db_path.name}.restoring-{stamp}")
    try:
        with duckdb.connect(str(building)) as connection:
            connection.execute(f"IMPORT DATABASE '{str(snapshot_path).replace(chr(39), chr(39) * 2)}'")
            tables = table_counts(connection)
            if tables != snapshot.tables:
                raise RestoreError(
                    f"{snapshot_path}: rebuilt {tables} but the snapshot's manifest says "
                    f"{snapshot.tables}; the snapshot is incomplete, try an older one"
                )
            newest = newest_run(connection)
            connection.execute("CHECKPOINT")
    except duckdb.Error as exc:
        _remove_partial(building)
        raise RestoreError(
            f"{snapshot_path}: the database could not be rebuilt from it ({exc}); nothing was "
            "changed. Try an older snapshot (`python -m pipelines restore --list`)"
        ) from exc
    except BaseException:
        _remove_partial(building)
        raise
    kept_aside = []
    for current, aside in (
        (db_path, db_path.with_name(f"{db_path.name}.before-restore-{stamp}")),
        (_wal(db_path), db_path.with_name(f"{db_path.name}.before-restore-{stamp}.wal")),
    ):
        if current.exists() or current.is_symlink():
            current.rename(aside)
            kept_aside.append(aside)
    building.rename(db_path)
    return Restored(db_path=db_path, snapshot=snapshot, tables=tables, newest_run=newest, kept_aside=kept_aside)


def _refuse_while_held(db_path: Path) -> None:
    """A process that holds the file would go on writing to the renamed one: refuse while it runs."""
    if not db_path.is_file():
        return
    try:
        duckdb.connect(str(db_path), read_only=True).close()
    except duckdb.Error as exc:
        if is_held_elsewhere(exc):
            raise RestoreError(
                f"{db_path}: another process holds it ({exc}); stop that process, then restore "
                "again. Nothing was changed."
            ) from exc
        # Any other failure to open is the damage being repaired.


def _remove_partial(building: Path) -> None:
    for leftover in (building, _wal(building)):
        leftover.unlink(missing_ok=True)


def _wal(path: Path) -> Path:
    return path.with_name(f"{path.name}.wal")
