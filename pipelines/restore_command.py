"""``python -m pipelines restore [SNAPSHOT]``: the results database rebuilt from a snapshot."""

from __future__ import annotations

import sys
from pathlib import Path

from resources.results.restore import RestoreError, choose_snapshot, restore_database
from resources.results.snapshots import list_snapshots, read_snapshot, snapshot_folder
from resources.results.store import SCHEMA_VERSION


def print_snapshots(db_path: Path) -> int:
    folder = snapshot_folder(db_path)
    snapshots = list_snapshots(folder, db_path.stem)
    print(f"snapshots of {db_path} in {folder}, newest first:" if snapshots else f"no snapshots in {folder}")
    for path in reversed(snapshots):
        snapshot = read_snapshot(path)
        print(f"  {path.name}: {_rows(snapshot.tables)}; {snapshot.size_bytes / 2**20:.2f} MiB")
    return 0


def restore(db_path: Path, name: str | None) -> int:
    try:
        restored = restore_database(db_path, choose_snapshot(db_path, name), SCHEMA_VERSION)
    except RestoreError as exc:
        print(f"not restored: {exc}", file=sys.stderr)
        return 1
    snapshot, tables = restored.snapshot, restored.tables
    print(f"restored {restored.db_path} from {snapshot.path.name} (taken {snapshot.taken_at}, {snapshot.reason})")
    print(f"  runs: {tables.get('runs', 0):,}")
    print(f"  result rows: {tables.get('benchmark_results', 0):,}")
    print(f"  request rows: {tables.get('benchmark_requests', 0):,}")
    print(f"  all tables: {_rows(tables)}")
    newest = restored.newest_run
    print(
        f"  newest run: {newest['run_id']} ({newest['partition']}, {newest['status']}, finished "
        f"{newest['finished_at']})"
        if newest
        else "  newest run: none"
    )
    for path in restored.kept_aside:
        print(f"  the file it replaced is kept at {path}")
    return 0


def _rows(tables: dict[str, int]) -> str:
    return ", ".join(f"{table} {n:,}" for table, n in tables.items())
