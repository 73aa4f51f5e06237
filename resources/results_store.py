"""The results database: a DuckDB file users can query with plain SQL.

Tables: ``runs`` (one row per Dagster run and partition, with provenance), ``benchmark_results``
(one row per run and scenario), ``hardware_reports`` (one per run). Rows are appended per run
and never overwritten by another run; writing the same run again replaces only that run's rows,
so a retried step is idempotent. DuckDB allows one writer process at a time and Dagster runs
steps in parallel processes, so each write is one short transaction, retried while the file is
locked by another process.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import duckdb

from resources.bench_result import RESULT_COLUMNS

SCHEMA_VERSION = 1

RUN_COLUMNS = (
    "run_id", "partition", "started_at", "finished_at", "status", "git_sha", "model_id",
    "weights_source", "weights_revision", "image_ref", "image_digest", "vllm_version",
    "hardware_fingerprint", "config_hash", "serve_args", "startup_s", "service_reused", "origin",
)

_DOUBLE_RESULT_COLUMNS = {c for c in RESULT_COLUMNS if c not in ("completed", "failed", "total_input_tokens",
                                                                   "total_output_tokens", "max_concurrency")}

SCHEMA = [
    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)",
    """CREATE TABLE IF NOT EXISTS runs (
        run_id VARCHAR NOT NULL, partition VARCHAR NOT NULL, started_at TIMESTAMP, finished_at TIMESTAMP,
        status VARCHAR NOT NULL, git_sha VARCHAR, model_id VARCHAR, weights_source VARCHAR,
        weights_revision VARCHAR, image_ref VARCHAR, image_digest VARCHAR, vllm_version VARCHAR,
        hardware_fingerprint VARCHAR, config_hash VARCHAR, serve_args VARCHAR, startup_s DOUBLE,
        service_reused BOOLEAN, origin VARCHAR NOT NULL DEFAULT 'pipeline',
        PRIMARY KEY (run_id, partition))""",
    "CREATE TABLE IF NOT EXISTS benchmark_results (run_id VARCHAR NOT NULL, partition VARCHAR NOT NULL, "
    "scenario VARCHAR NOT NULL, "
    + ", ".join(
        f"{c} {'DOUBLE' if c in _DOUBLE_RESULT_COLUMNS else 'BIGINT'}" for c in RESULT_COLUMNS
    )
    + ", seed BIGINT, prefix_caching VARCHAR, metric_definitions VARCHAR NOT NULL DEFAULT 'vllm', "
    "bench_args VARCHAR, result_file VARCHAR, recorded_at TIMESTAMP NOT NULL DEFAULT current_timestamp, "
    "PRIMARY KEY (run_id, partition, scenario))",
    """CREATE TABLE IF NOT EXISTS hardware_reports (
        run_id VARCHAR NOT NULL, partition VARCHAR NOT NULL, fingerprint VARCHAR, nvidia_driver_present BOOLEAN,
        report_json VARCHAR, recorded_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
        PRIMARY KEY (run_id, partition))""",
]


def _connect_with_retry(path: Path, read_only: bool, wait_s: float) -> duckdb.DuckDBPyConnection:
    deadline = time.monotonic() + wait_s
    delay = 0.05
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as exc:
            # Another process holds the file's lock: wait for it, up to wait_s.
            if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                raise RuntimeError(
                    f"{path}: could not open the results database ({exc}); another process holds it. "
                    "Nothing was written; retry when it is released."
                ) from exc
            time.sleep(delay)
            delay = min(delay * 2, 1.0)


class ResultsStore:
    def __init__(self, path: Path, lock_wait_s: float = 120.0):
        self.path = Path(path)
        self.lock_wait_s = lock_wait_s

    def _write(self, work: Callable[[duckdb.DuckDBPyConnection], Any]) -> Any:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = _connect_with_retry(self.path, read_only=False, wait_s=self.lock_wait_s)
        try:
            connection.execute("BEGIN TRANSACTION")
            for statement in SCHEMA:
                connection.execute(statement)
            if connection.execute("SELECT count(*) FROM schema_version").fetchone()[0] == 0:
                connection.execute("INSERT INTO schema_version VALUES (?)", [SCHEMA_VERSION])
            result = work(connection)
            connection.execute("COMMIT")
            return result
        except Exception:
            connection.execute("ROLLBACK")
            raise
        finally:
            connection.close()

    def query(self, sql: str, params: list | None = None):
        """A read-only query as a pandas DataFrame; an empty frame if nothing was recorded yet."""
        import pandas as pd

        if not self.path.exists():
            return pd.DataFrame()
        connection = _connect_with_retry(self.path, read_only=True, wait_s=self.lock_wait_s)
        try:
            return connection.execute(sql, params or []).df()
        except duckdb.CatalogException:
            return pd.DataFrame()
        finally:
            connection.close()

    def record_run(self, run: dict, results: list[dict]) -> None:
        """The run's provenance and all its scenario rows, in one transaction."""

        def work(connection):
            connection.execute("DELETE FROM benchmark_results WHERE run_id = ? AND partition = ?",
                               [run["run_id"], run["partition"]])
            connection.execute("DELETE FROM runs WHERE run_id = ? AND partition = ?",
                               [run["run_id"], run["partition"]])
            _insert(connection, "runs", {k: run.get(k) for k in RUN_COLUMNS if k in run})
            for row in results:
                _insert(connection, "benchmark_results", row)

        self._write(work)

    def record_hardware_report(self, run_id: str, partition: str, fingerprint: str | None,
                               driver_present: bool, report_json: str) -> None:
        def work(connection):
            connection.execute("DELETE FROM hardware_reports WHERE run_id = ? AND partition = ?",
                               [run_id, partition])
            _insert(connection, "hardware_reports", {
                "run_id": run_id, "partition": partition, "fingerprint": fingerprint,
                "nvidia_driver_present": driver_present, "report_json": report_json,
            })

        self._write(work)


def _insert(connection: duckdb.DuckDBPyConnection, table: str, row: dict) -> None:
    columns = list(row)
    placeholders = ", ".join("?" for _ in columns)
    connection.execute(
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})", [row[c] for c in columns]
    )
