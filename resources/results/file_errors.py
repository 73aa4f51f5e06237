"""Why the results file could not be opened, in words a user can act on.

DuckDB reports a damaged file as a checksum mismatch, a short read or "not a valid DuckDB
database file", and only when it reads the damaged block. Each such failure becomes one
``ResultsFileError`` that names the file, says what is wrong and gives the command that
recovers, and the store reads every block of a file before it writes to it, so a damaged file is
found before a run adds to it rather than months later.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

RESTORE = "python -m pipelines restore"


def is_held_elsewhere(error: Exception) -> bool:
    """DuckDB's word for a file another process has open for writing (not "block", which has "lock" in it)."""
    return "could not set lock" in str(error).lower()


class ResultsFileError(RuntimeError):
    """The results file cannot be used; nothing was written to it."""

    def __init__(self, path: Path, cause: str, fix: str):
        self.path, self.cause, self.fix = Path(path), cause, fix
        super().__init__(f"results database {path}: {cause}. Nothing was written to it. {fix}")


def restore_command(path: Path, default_path: Path | None = None) -> str:
    """The command that rebuilds ``path`` from its newest snapshot."""
    if default_path is not None and Path(path).resolve() == Path(default_path).resolve():
        return RESTORE
    return f"{RESTORE} --db {path}"


def explain_open_failure(path: Path, error: Exception, waited_s: float, restore: str) -> ResultsFileError:
    """The cause of a failed open or read of ``path``, from DuckDB's (or the OS's) message."""
    said = str(error).strip()
    text = said.lower()
    recover = (
        f"To get the history back, run `{restore}`: it rebuilds the file from the newest snapshot "
        "and keeps this one aside, renamed"
    )
    if is_held_elsewhere(error):
        return ResultsFileError(
            path,
            f"it was still locked after {waited_s:.0f} s of waiting (DuckDB: {said}): another process holds it",
            "Retry when that process has finished, or stop it (DuckDB names its PID above)",
        )
    if "not a valid duckdb database file" in text:
        return ResultsFileError(
            path,
            "it is not a DuckDB database: its header is not DuckDB's (another file was copied over it, "
            "or its first blocks were overwritten)",
            recover,
        )
    if "checksum" in text or "could not read enough bytes" in text or "corrupt" in text:
        return ResultsFileError(
            path,
            f"it is damaged: a block of it does not hold what DuckDB wrote there, or the file was cut "
            f"short (DuckDB: {said})",
            recover,
        )
    if "version number" in text or "newer version" in text or "storage version" in text:
        return ResultsFileError(
            path,
            f"it was written by a newer DuckDB than the installed duckdb {duckdb.__version__} (DuckDB: {said})",
            "Install the newer duckdb (`make install` after updating the project), "
            f"or run `{restore}` to go back to the newest snapshot this version can read",
        )
    if "is a directory" in text:
        return ResultsFileError(path, "a directory stands where the file should be", recover)
    if "permission denied" in text or isinstance(error, PermissionError):
        return ResultsFileError(
            path,
            f"this user may not read or write it (DuckDB: {said})",
            f"Give this user read and write access to it (chown/chmod), or run `{restore}`",
        )
    return ResultsFileError(path, f"DuckDB could not open it ({said})", recover)


def newer_schema_error(path: Path, found: int, supported: int) -> ResultsFileError:
    return ResultsFileError(
        path,
        f"its schema is version {found}, newer than the version {supported} this code knows (a newer "
        "version of the project wrote it; this one would misread it)",
        "Run the newer version of the project against it (update this checkout); nothing here writes to it",
    )


def read_every_block(connection: duckdb.DuckDBPyConnection) -> None:
    """Reads every column of every table, so DuckDB checks each block's checksum.

    Opening a file reads only its header and catalog: a zeroed data block shows up only when it
    is read. About 0.06 s for the 10,000-run synthetic history (45 MiB).
    """
    for (table,) in connection.execute(
        "SELECT table_name FROM information_schema.tables "
        "WHERE table_schema = 'main' AND table_type = 'BASE TABLE' ORDER BY table_name"
    ).fetchall():
        connection.execute(f'SELECT bit_xor(hash(COLUMNS(*))) FROM "{table}"').fetchall()
