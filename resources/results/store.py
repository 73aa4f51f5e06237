"""The results database: a DuckDB file users can query with plain SQL.

Tables: ``runs`` (one row per Dagster run and partition, with provenance), ``benchmark_results``
(one row per run and scenario), ``benchmark_repetitions`` (one per repetition of a scenario run
several times; ``benchmark_results`` holds their combination), ``hardware_reports`` (one per run),
``accuracy_runs`` (one per run: the evaluation set's score, interval and verdict, with what the
answers depend on) and ``accuracy_items`` (one per run and item: the greedy reply and its score). Rows are
appended per run
and never overwritten by another run; writing the same run again replaces only that run's rows,
so a retried step is idempotent. DuckDB allows one writer process at a time and Dagster runs
steps in parallel processes, so each write is one short transaction, retried while the file is
locked by another process.

A file that cannot be trusted is never written to: before each write every block is read (DuckDB
checks each one's checksum) and the schema version is checked, and any failure is a
``ResultsFileError`` naming the file, the cause and ``python -m pipelines restore``. The store
snapshots the file (``snapshots.py``) before it migrates an older schema and whenever
``snapshot()`` is called, which the pipeline does after every run that wrote results.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import duckdb

from resources.config.eval_home import results_db_path
from resources.results.bench_json import REQUEST_COLUMNS, RESULT_COLUMNS
from resources.results.capacity import CAPACITY_COLUMNS
from resources.results.file_errors import (
    explain_open_failure,
    is_held_elsewhere,
    newer_schema_error,
    read_every_block,
    restore_command,
)
from resources.results.snapshots import Snapshot, keep_count, snapshot_folder, take_snapshot

RUN_COLUMNS = (
    "run_id",
    "partition",
    "started_at",
    "finished_at",
    "status",
    "git_sha",
    "model_id",
    "weights_source",
    "weights_revision",
    "image_ref",
    "image_digest",
    "vllm_version",
    "hardware_fingerprint",
    "config_hash",
    "serve_args",
    "startup_s",
    "service_reused",
    "origin",
    "tensor_parallel_size",
    "gpu_count",
    "gpu_model",
    "driver_version",
    "active_params_b",
    "bytes_per_param",
    "trust_remote_code",
    "device",
    "error",
    "startup_phases",
    "compile_cache",
    "cold_start",
    "kv_cache_tokens",
    "max_concurrency_capacity",
    "hardware_model",
    "cuda_version",
    "price_per_hour_usd",
    "sweep",
    "sweep_settings",
)

ACCURACY_RUN_COLUMNS = (
    ("run_id", "VARCHAR"),
    ("partition", "VARCHAR"),
    ("eval_set", "VARCHAR"),
    ("eval_set_sha", "VARCHAR"),
    ("items", "INTEGER"),
    ("correct", "INTEGER"),
    ("errors", "INTEGER"),
    ("accuracy", "DOUBLE"),
    ("accuracy_low", "DOUBLE"),
    ("accuracy_high", "DOUBLE"),
    ("seconds", "DOUBLE"),
    ("hardware_model", "VARCHAR"),
    ("hardware_fingerprint", "VARCHAR"),
    ("weights_source", "VARCHAR"),
    ("weights_revision", "VARCHAR"),
    ("dtype", "VARCHAR"),
    ("kv_cache_dtype", "VARCHAR"),
    ("vllm_version", "VARCHAR"),
    ("image_ref", "VARCHAR"),
    ("image_digest", "VARCHAR"),
    ("chat_template_sha", "VARCHAR"),
    ("max_tokens", "INTEGER"),
    ("config_hash", "VARCHAR"),
    ("verdict", "VARCHAR"),
    ("verdict_sentence", "VARCHAR"),
    ("baseline_run_id", "VARCHAR"),
    ("paired_items", "INTEGER"),
    ("lost", "INTEGER"),
    ("gained", "INTEGER"),
    ("changed_texts", "INTEGER"),
    ("p_value", "DOUBLE"),
    ("suspects", "VARCHAR"),
)

_INTEGER_RESULT_COLUMNS = {"completed", "failed", "total_input_tokens", "total_output_tokens", "max_concurrency"}

# Tables holding a run's rows: a rewrite of the run replaces them all.
_RUN_TABLES = ("benchmark_requests", "benchmark_repetitions", "benchmark_results", "capacity_results", "runs")

# Each entry takes the database from version N-1 to N. A results file written by older code is
# brought up to date the first time newer code opens it; nothing is dropped or rewritten.
MIGRATIONS: list[list[str]] = [
    [  # 1: runs, benchmark results, hardware reports
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
            f"{c} {'BIGINT' if c in _INTEGER_RESULT_COLUMNS else 'DOUBLE'}"
            for c in RESULT_COLUMNS
            if c != "request_goodput"
        )
        + ", seed BIGINT, prefix_caching VARCHAR, metric_definitions VARCHAR NOT NULL DEFAULT 'vllm', "
        "bench_args VARCHAR, result_file VARCHAR, recorded_at TIMESTAMP NOT NULL DEFAULT current_timestamp, "
        "PRIMARY KEY (run_id, partition, scenario))",
        """CREATE TABLE IF NOT EXISTS hardware_reports (
            run_id VARCHAR NOT NULL, partition VARCHAR NOT NULL, fingerprint VARCHAR, nvidia_driver_present BOOLEAN,
            report_json VARCHAR, recorded_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
            PRIMARY KEY (run_id, partition))""",
    ],
    [  # 2: what the roofline and Pareto views need, sweeps, goodput, per-request rows
        "ALTER TABLE runs ADD COLUMN tensor_parallel_size INTEGER",
        "ALTER TABLE runs ADD COLUMN gpu_count INTEGER",
        "ALTER TABLE runs ADD COLUMN gpu_model VARCHAR",
        "ALTER TABLE runs ADD COLUMN driver_version VARCHAR",
        "ALTER TABLE runs ADD COLUMN active_params_b DOUBLE",
        "ALTER TABLE runs ADD COLUMN bytes_per_param DOUBLE",
        "ALTER TABLE runs ADD COLUMN trust_remote_code BOOLEAN",
        "ALTER TABLE runs ADD COLUMN device VARCHAR",
        "ALTER TABLE benchmark_results ADD COLUMN request_goodput DOUBLE",
        "ALTER TABLE benchmark_results ADD COLUMN scenario_group VARCHAR",
        "ALTER TABLE benchmark_results ADD COLUMN num_prompts INTEGER",
        "ALTER TABLE benchmark_results ADD COLUMN input_len INTEGER",
        "ALTER TABLE benchmark_results ADD COLUMN output_len INTEGER",
        "ALTER TABLE benchmark_results ADD COLUMN warmups INTEGER",
        """CREATE TABLE IF NOT EXISTS benchmark_requests (
            run_id VARCHAR NOT NULL, partition VARCHAR NOT NULL, scenario VARCHAR NOT NULL,
            request_index INTEGER NOT NULL, input_len INTEGER, output_len INTEGER, ttft_ms DOUBLE,
            latency_ms DOUBLE, tpot_ms DOUBLE, itl_mean_ms DOUBLE, start_time_s DOUBLE, error VARCHAR)""",
    ],
    [  # 3: why a run failed
        "ALTER TABLE runs ADD COLUMN error VARCHAR",
    ],
    [  # 4: how the server started: phases, compile cache, engine capacity
        "ALTER TABLE runs ADD COLUMN startup_phases VARCHAR",
        "ALTER TABLE runs ADD COLUMN compile_cache VARCHAR",
        "ALTER TABLE runs ADD COLUMN cold_start BOOLEAN",
        "ALTER TABLE runs ADD COLUMN kv_cache_tokens BIGINT",
        "ALTER TABLE runs ADD COLUMN max_concurrency_capacity DOUBLE",
    ],
    [  # 5: energy per scenario from NVML's energy counter (NULL where not measured: CPU, remote GPUs)
        "ALTER TABLE benchmark_results ADD COLUMN energy_j DOUBLE",
        "ALTER TABLE benchmark_results ADD COLUMN mean_power_w DOUBLE",
        "ALTER TABLE benchmark_results ADD COLUMN joules_per_output_token DOUBLE",
    ],
    [  # 6: validity of each result with its reasons, vLLM's own counters over it, what the regression
        # rule compares and its suspects
        "ALTER TABLE benchmark_results ADD COLUMN valid BOOLEAN",
        "ALTER TABLE benchmark_results ADD COLUMN invalid_reasons VARCHAR",
        "ALTER TABLE benchmark_results ADD COLUMN stream_measured BOOLEAN",
        "ALTER TABLE benchmark_results ADD COLUMN chunks_per_token DOUBLE",
        "ALTER TABLE benchmark_results ADD COLUMN host_cpu_cores DOUBLE",
        "ALTER TABLE benchmark_results ADD COLUMN server_cpu_cores DOUBLE",
        "ALTER TABLE benchmark_results ADD COLUMN loadgen_cpu_cores DOUBLE",
        "ALTER TABLE benchmark_results ADD COLUMN other_cpu_cores DOUBLE",
        "ALTER TABLE benchmark_results ADD COLUMN prefix_cache_hit_rate DOUBLE",
        "ALTER TABLE benchmark_results ADD COLUMN preemptions DOUBLE",
        "ALTER TABLE benchmark_results ADD COLUMN mean_queue_time_ms DOUBLE",
        "ALTER TABLE benchmark_results ADD COLUMN kv_cache_usage_end DOUBLE",
        "ALTER TABLE benchmark_results ADD COLUMN requests_waiting_end DOUBLE",
        "ALTER TABLE benchmark_requests ADD COLUMN chunks INTEGER",
        "ALTER TABLE benchmark_requests ADD COLUMN streamed BOOLEAN",
        "ALTER TABLE runs ADD COLUMN hardware_model VARCHAR",
        "ALTER TABLE runs ADD COLUMN cuda_version VARCHAR",
    ],
    [  # 7: repetitions of a load point (repeat: N) with throughput intervals across them; the
        # deployment's price per hour in force at the run
        "CREATE TABLE IF NOT EXISTS benchmark_repetitions (run_id VARCHAR NOT NULL, partition VARCHAR NOT NULL, "
        "scenario VARCHAR NOT NULL, repetition INTEGER NOT NULL, seed BIGINT, completed BIGINT, failed BIGINT, "
        "duration_s DOUBLE, request_throughput DOUBLE, output_throughput DOUBLE, total_token_throughput DOUBLE, "
        "mean_ttft_ms DOUBLE, median_ttft_ms DOUBLE, p99_ttft_ms DOUBLE, median_tpot_ms DOUBLE, p99_tpot_ms DOUBLE, "
        "valid BOOLEAN, invalid_reasons VARCHAR, stream_measured BOOLEAN, result_file VARCHAR, "
        "PRIMARY KEY (run_id, partition, scenario, repetition))",
        "ALTER TABLE benchmark_requests ADD COLUMN repetition INTEGER",
        "ALTER TABLE benchmark_results ADD COLUMN repetitions INTEGER",
        "ALTER TABLE benchmark_results ADD COLUMN valid_repetitions INTEGER",
        "ALTER TABLE benchmark_results ADD COLUMN throughput_interval VARCHAR",
        *(
            f"ALTER TABLE benchmark_results ADD COLUMN {name}_{end} DOUBLE"
            for name in ("request_throughput", "output_throughput", "total_token_throughput")
            for end in ("low", "high")
        ),
        "ALTER TABLE runs ADD COLUMN price_per_hour_usd DOUBLE",
    ],
    [  # 8: the highest KV-cache usage and queue depths vLLM reported while the scenario ran
        "ALTER TABLE benchmark_results ADD COLUMN kv_cache_usage_peak DOUBLE",
        "ALTER TABLE benchmark_results ADD COLUMN requests_running_peak DOUBLE",
        "ALTER TABLE benchmark_results ADD COLUMN requests_waiting_peak DOUBLE",
        "ALTER TABLE benchmark_results ADD COLUMN server_scrapes INTEGER",
    ],
    [  # 9: the run's first load point on a server this run started (its first batches may pay
        # one-time kernel compilation), so the regression rule can name it as a suspect
        "ALTER TABLE benchmark_results ADD COLUMN first_load_after_start BOOLEAN",
    ],
    [  # 10: answers: an evaluation set's score per run, its verdict against the earlier run, and
        # every item's greedy reply (the paired test and the drift count need them)
        "CREATE TABLE IF NOT EXISTS accuracy_runs (run_id VARCHAR NOT NULL, partition VARCHAR NOT NULL, "
        + ", ".join(f"{name} {kind}" for name, kind in ACCURACY_RUN_COLUMNS[2:])
        + ", recorded_at TIMESTAMP NOT NULL DEFAULT current_timestamp, PRIMARY KEY (run_id, partition))",
        "CREATE TABLE IF NOT EXISTS accuracy_items (run_id VARCHAR NOT NULL, partition VARCHAR NOT NULL, "
        "item_id VARCHAR NOT NULL, category VARCHAR, correct BOOLEAN NOT NULL, extracted VARCHAR, "
        "reply VARCHAR, completion_tokens INTEGER, error VARCHAR, PRIMARY KEY (run_id, partition, item_id))",
    ],
    [  # 11: sweeps: which sweep a run's partition is a point of and what the point set, and the
        # answer of each SLO search (the highest concurrency meeting the scenario's targets)
        "ALTER TABLE runs ADD COLUMN sweep VARCHAR",
        "ALTER TABLE runs ADD COLUMN sweep_settings VARCHAR",
        "CREATE TABLE IF NOT EXISTS capacity_results ("
        + ", ".join(f"{name} {kind}" for name, kind in CAPACITY_COLUMNS)
        + ", PRIMARY KEY (run_id, partition, scenario))",
    ],
    [  # 12: what the requests were (random, shared_prefix or a trace with its file's sha256), and the
        # prefix-cache hits that workload implies beside a flag when a result had more
        "ALTER TABLE benchmark_results ADD COLUMN workload VARCHAR",
        "ALTER TABLE benchmark_results ADD COLUMN workload_params VARCHAR",
        "ALTER TABLE benchmark_results ADD COLUMN workload_sha256 VARCHAR",
        "ALTER TABLE benchmark_results ADD COLUMN prefix_cache_implied DOUBLE",
        "ALTER TABLE benchmark_results ADD COLUMN prefix_cache_flag VARCHAR",
    ],
]
SCHEMA_VERSION = len(MIGRATIONS)


def schema_version(connection: duckdb.DuckDBPyConnection) -> int:
    if _has_version_table(connection):
        row = connection.execute("SELECT max(version) FROM schema_version").fetchone()
        if row[0] is not None:
            return row[0]
    # A file from before versioning has the version-1 tables and no version row.
    has_runs = connection.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'runs'"
    ).fetchone()[0]
    return 1 if has_runs else 0


def migrate(connection: duckdb.DuckDBPyConnection) -> int:
    """Applies the migrations this file has not seen yet, inside the caller's transaction."""
    current = schema_version(connection)
    if current > SCHEMA_VERSION:
        raise RuntimeError(f"schema version {current} is newer than this code's {SCHEMA_VERSION}")
    connection.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    for version in range(current + 1, SCHEMA_VERSION + 1):
        for statement in MIGRATIONS[version - 1]:
            connection.execute(statement)
    if current != SCHEMA_VERSION:
        connection.execute("DELETE FROM schema_version")
        connection.execute("INSERT INTO schema_version VALUES (?)", [SCHEMA_VERSION])
    return SCHEMA_VERSION


def _connect_with_retry(path: Path, read_only: bool, wait_s: float, verify: bool = True) -> duckdb.DuckDBPyConnection:
    """A connection to a file this code can trust, or a ``ResultsFileError`` saying why not."""
    deadline = time.monotonic() + wait_s
    delay = 0.05
    while True:
        try:
            connection = duckdb.connect(str(path), read_only=read_only)
            break
        except (duckdb.Error, OSError) as exc:
            # Another process holds the file's lock: wait for it, up to wait_s.
            if not is_held_elsewhere(exc) or time.monotonic() > deadline:
                raise explain_open_failure(path, exc, wait_s, restore_command(path, results_db_path())) from exc
            time.sleep(delay)
            delay = min(delay * 2, 1.0)
    try:
        found = schema_version(connection)
        if found > SCHEMA_VERSION:
            raise newer_schema_error(path, found, SCHEMA_VERSION)
        if verify:
            read_every_block(connection)
    except duckdb.Error as exc:
        connection.close()
        raise explain_open_failure(path, exc, wait_s, restore_command(path, results_db_path())) from exc
    except BaseException:
        connection.close()
        raise
    return connection


class ResultsStore:
    def __init__(self, path: Path, lock_wait_s: float = 120.0, snapshots_keep: int | None = None):
        self.path = Path(path)
        self.lock_wait_s = lock_wait_s
        self.snapshots_keep = snapshots_keep

    def snapshot(self, reason: str = "after-run") -> Snapshot:
        """Exports the database to a new snapshot beside it and drops all but the newest N."""
        # The export reads every block itself: no separate verification pass.
        connection = _connect_with_retry(self.path, read_only=True, wait_s=self.lock_wait_s, verify=False)
        try:
            return self._take_snapshot(connection, reason)
        except duckdb.Error as exc:
            if any(word in str(exc).lower() for word in ("checksum", "corrupt", "could not read enough")):
                raise explain_open_failure(
                    self.path, exc, self.lock_wait_s, restore_command(self.path, results_db_path())
                ) from exc
            raise RuntimeError(
                f"{snapshot_folder(self.path)}: no snapshot of {self.path} was written ({exc}); "
                "the results file itself is unchanged"
            ) from exc
        finally:
            connection.close()

    def _take_snapshot(self, connection: duckdb.DuckDBPyConnection, reason: str) -> Snapshot:
        return take_snapshot(
            connection,
            snapshot_folder(self.path),
            self.path.stem,
            keep_count(self.snapshots_keep),
            reason,
            schema_version(connection),
        )

    def _write(self, work: Callable[[duckdb.DuckDBPyConnection], Any]) -> Any:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = _connect_with_retry(self.path, read_only=False, wait_s=self.lock_wait_s)
        current = schema_version(connection)
        if 0 < current < SCHEMA_VERSION:
            # A migration that fails half-way must leave something to go back to: no snapshot, no migration.
            try:
                self._take_snapshot(connection, f"before-migration-v{current}-to-v{SCHEMA_VERSION}")
            except BaseException:
                connection.close()
                raise
        try:
            connection.execute("BEGIN TRANSACTION")
            migrate(connection)
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
        self.ensure_schema()
        connection = _connect_with_retry(self.path, read_only=True, wait_s=self.lock_wait_s)
        try:
            return connection.execute(sql, params or []).df()
        except duckdb.CatalogException:
            return pd.DataFrame()
        finally:
            connection.close()

    def connect_read_only(self) -> duckdb.DuckDBPyConnection:
        """A read-only connection, waiting while another process writes; the caller closes it."""
        return _connect_with_retry(self.path, read_only=True, wait_s=self.lock_wait_s)

    def create_or_migrate(self) -> None:
        """Creates the file with the current schema, or migrates an older one."""
        self._write(lambda connection: None)

    def ensure_schema(self) -> None:
        """Brings an older results file up to this code's schema (a no-op when current)."""
        # Only the version is read here; the connection that reads or writes next verifies the file.
        connection = _connect_with_retry(self.path, read_only=True, wait_s=self.lock_wait_s, verify=False)
        try:
            current = schema_version(connection)
        finally:
            connection.close()
        if current != SCHEMA_VERSION:
            self.create_or_migrate()

    def record_run(
        self,
        run: dict,
        results: list[dict],
        requests: list[dict] | None = None,
        repetitions: list[dict] | None = None,
        capacities: list[dict] | None = None,
    ) -> None:
        """The run's provenance, its scenario rows, its per-request rows and, for a scenario run
        several times, each repetition's row, in one transaction.

        Writing the same run again replaces that run's rows only: a retried step is idempotent.
        """
        key = [run["run_id"], run["partition"]]

        def work(connection):
            for table in _RUN_TABLES:
                connection.execute(f"DELETE FROM {table} WHERE run_id = ? AND partition = ?", key)
            _insert(connection, "runs", {k: run.get(k) for k in RUN_COLUMNS if k in run})
            for row in results:
                _insert(connection, "benchmark_results", row)
            for row in repetitions or ():
                _insert(connection, "benchmark_repetitions", row)
            for row in capacities or ():
                _insert(connection, "capacity_results", row)
            if requests:
                import pandas as pd

                # A repetition number only where the scenario was repeated: a run without repeat
                # stores the rows it always did.
                extra = ["repetition"] if any("repetition" in r for r in requests) else []
                frame = pd.DataFrame(requests, columns=["run_id", "partition", "scenario", *REQUEST_COLUMNS, *extra])
                connection.register("new_requests", frame)
                connection.execute("INSERT INTO benchmark_requests BY NAME SELECT * FROM new_requests")
                connection.unregister("new_requests")

        self._write(work)

    def record_failed_run(self, run: dict) -> None:
        """A failed run: its provenance and error, and none of its result rows, so a half-finished
        benchmark never mixes with complete ones. A run already recorded as succeeded stays so."""
        key = [run["run_id"], run["partition"]]

        def work(connection):
            done = connection.execute(
                "SELECT count(*) FROM runs WHERE run_id = ? AND partition = ? AND status = 'succeeded'", key
            ).fetchone()[0]
            if done:
                return
            for table in _RUN_TABLES:
                connection.execute(f"DELETE FROM {table} WHERE run_id = ? AND partition = ?", key)
            _insert(connection, "runs", {k: run.get(k) for k in RUN_COLUMNS if k in run} | {"status": "failed"})

        self._write(work)

    def record_accuracy(self, run: dict, items: list[dict]) -> None:
        """One run's evaluation: its ``accuracy_runs`` row and every item's row, in one transaction;
        writing the same run again replaces them (a retried step is idempotent)."""
        key = [run["run_id"], run["partition"]]

        def work(connection):
            for table in ("accuracy_items", "accuracy_runs"):
                connection.execute(f"DELETE FROM {table} WHERE run_id = ? AND partition = ?", key)
            _insert(connection, "accuracy_runs", {name: run.get(name) for name, _ in ACCURACY_RUN_COLUMNS})
            for item in items:
                _insert(connection, "accuracy_items", {"run_id": run["run_id"], "partition": run["partition"], **item})

        self._write(work)

    def accuracy_history(
        self, partition: str, hardware_model: str, eval_set_sha: str, before_run_id: str, window: int
    ) -> list[tuple[dict, dict[str, tuple[bool, str]]]]:
        """The deployment's last ``window`` valid evaluations on the same hardware model and items,
        latest first: each run's row and item id -> (correct, reply)."""
        if not self.path.exists():
            return []
        self.ensure_schema()
        found = self.query(
            "SELECT * FROM accuracy_runs WHERE partition = ? AND hardware_model = ? AND eval_set_sha = ? "
            "AND run_id <> ? AND errors = 0 ORDER BY recorded_at DESC LIMIT ?",
            [partition, hardware_model, eval_set_sha, before_run_id, window],
        )
        history = []
        for row in found.to_dict("records"):
            items = self.query(
                "SELECT item_id, correct, reply FROM accuracy_items WHERE run_id = ? AND partition = ?",
                [row["run_id"], partition],
            )
            history.append((row, {r.item_id: (bool(r.correct), r.reply or "") for r in items.itertuples()}))
        return history

    def record_hardware_report(
        self, run_id: str, partition: str, fingerprint: str | None, driver_present: bool, report_json: str
    ) -> None:
        def work(connection):
            connection.execute("DELETE FROM hardware_reports WHERE run_id = ? AND partition = ?", [run_id, partition])
            _insert(
                connection,
                "hardware_reports",
                {
                    "run_id": run_id,
                    "partition": partition,
                    "fingerprint": fingerprint,
                    "nvidia_driver_present": driver_present,
                    "report_json": report_json,
                },
            )

        self._write(work)


def _has_version_table(connection: duckdb.DuckDBPyConnection) -> bool:
    return (
        connection.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_version'"
        ).fetchone()[0]
        > 0
    )


def _insert(connection: duckdb.DuckDBPyConnection, table: str, row: dict) -> None:
    columns = list(row)
    placeholders = ", ".join("?" for _ in columns)
    connection.execute(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})", [row[c] for c in columns])
