"""How long the comparison report takes over a large results history (SYNTHETIC data).

Builds a temporary DuckDB file in the results store's own schema holding a made-up history:
20 deployments x 500 nightly runs = 10,000 runs, 5 scenarios each (one burst and a 4-point
concurrency ladder) = 50,000 result rows, 100 per-request rows per run = 1,000,000 request
rows, and an evaluation of the answers for every succeeded run of half the deployments (about
4,900 ``accuracy_runs`` rows; the report reads no per-item rows, so none are made), generated
inside DuckDB with ``range()``. Every run id starts with ``synthetic-`` and
every model id with ``synthetic/``: none of these numbers was measured.

Takes one snapshot of it (the Parquet export the pipeline takes after every run) and rebuilds a
database from that snapshot, and prints the time and size of each. Then builds the whole report over it
(queries, three PNG charts, markdown, HTML) several times
and prints the time of each stage. The report aggregates inside DuckDB, so it must not slow
down with the number of request rows.

    .venv/bin/python benchmarks/report_speed.py [--repeat 3] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

_import_started = time.perf_counter()
from resources.report.build import build_report  # noqa: E402 - imports matplotlib and pandas

IMPORT_S = time.perf_counter() - _import_started
from resources.results.store import ResultsStore  # noqa: E402

PARTITIONS = 20
NIGHTS = 500
REQUESTS_PER_RUN = 100
LADDER = (1, 2, 4, 8)

# One temporary table per store table; columns the store's schema lacks are left out on insert.
GENERATE = [
    f"""CREATE TEMP TABLE syn_runs AS
    SELECT 'synthetic-' || lpad(p::VARCHAR, 2, '0') || '-' || lpad(n::VARCHAR, 4, '0') AS run_id,
           'synthetic-' || CASE p % 2 WHEN 0 THEN 'qwen3-30b-a3b-fp8' ELSE 'llama-8b-bf16' END
               || '-tp' || (1 << (p % 4))::VARCHAR || '-' || chr((97 + p // 4)::INTEGER) AS partition,
           TIMESTAMP '2024-06-01 02:00:00' + INTERVAL (n) DAY + INTERVAL (p) MINUTE AS started_at,
           TIMESTAMP '2024-06-01 02:10:00' + INTERVAL (n) DAY + INTERVAL (p) MINUTE AS finished_at,
           CASE WHEN hash(p, n) % 50 = 0 THEN 'failed' ELSE 'succeeded' END AS status,
           'synthetic' AS git_sha,
           CASE p % 2 WHEN 0 THEN 'synthetic/Qwen3-30B-A3B-FP8' ELSE 'synthetic/Llama-8B' END AS model_id,
           'huggingface' AS weights_source, 'rev-' || (n // 200)::VARCHAR AS weights_revision,
           'vllm/vllm-openai:synthetic' AS image_ref, 'sha256:' || md5('image' || (n // 60)::VARCHAR) AS image_digest,
           '0.' || (10 + n // 90)::VARCHAR || '.0' AS vllm_version,
           CASE WHEN p >= 18 THEN 'cpuhost000000000' ELSE 'h100host00000000' END AS hardware_fingerprint,
           md5('config' || p::VARCHAR)[:16] AS config_hash, '--synthetic' AS serve_args, 60.0 AS startup_s,
           false AS service_reused, 'imported' AS origin,
           (1 << (p % 4)) AS tensor_parallel_size,
           CASE WHEN p >= 18 THEN 0 ELSE (1 << (p % 4)) END AS gpu_count,
           CASE WHEN p >= 18 THEN NULL ELSE 'NVIDIA H100 80GB HBM3' END AS gpu_model,
           '550.54.15' AS driver_version, CASE p % 2 WHEN 0 THEN 3.3 ELSE 8.0 END AS active_params_b,
           CASE p % 2 WHEN 0 THEN 1.0 ELSE 2.0 END AS bytes_per_param, false AS trust_remote_code,
           CASE WHEN p >= 18 THEN 'cpu' ELSE 'gpu' END AS device,
           p, n
    FROM range({PARTITIONS}) t1(p), range({NIGHTS}) t2(n)""",
    """CREATE TEMP TABLE syn_points AS
    SELECT * FROM (VALUES ('short-burst', NULL, 16), ('ladder/c1', 'ladder', 1), ('ladder/c2', 'ladder', 2),
                          ('ladder/c4', 'ladder', 4), ('ladder/c8', 'ladder', 8)) v(scenario, scenario_group, c)""",
    # TPOT grows with concurrency and with the model's bytes per token over the GPUs; +-10 % noise.
    """CREATE TEMP TABLE syn_results AS
    SELECT r.run_id, r.partition, s.scenario, s.scenario_group, s.c AS max_concurrency,
           CAST('inf' AS DOUBLE) AS request_rate,
           tpot, ttft, s.c * 1000.0 / tpot * 0.9 AS output_throughput,
           s.c * 1000.0 / tpot * 0.9 / 256 AS request_throughput,
           s.c * 1000.0 / tpot * 0.9 * 5 AS total_token_throughput,
           64 AS completed, 0 AS failed, 64 * 256 / (s.c * 1000.0 / tpot * 0.9) AS duration_s,
           64 * 1024 AS total_input_tokens, 64 * 256 AS total_output_tokens, 64 AS num_prompts,
           1024 AS input_len, 256 AS output_len, 2 AS warmups, hash(r.run_id, s.scenario) % 100000 AS seed,
           'off' AS prefix_caching, 'vllm' AS metric_definitions, '--synthetic' AS bench_args,
           r.finished_at AS recorded_at
    FROM syn_runs r CROSS JOIN syn_points s,
         LATERAL (SELECT (r.active_params_b * r.bytes_per_param / r.tensor_parallel_size * 0.6 + 1.5)
                         * (1 + 0.12 * log2(s.c)) * (0.9 + (hash(r.run_id, s.scenario) % 200) / 1000.0)
                         * CASE WHEN r.device = 'cpu' THEN 8 ELSE 1 END AS tpot,
                         (40 + 15 * s.c) * (0.9 + (hash(s.scenario, r.run_id) % 200) / 1000.0) AS ttft)
""",
    f"""CREATE TEMP TABLE syn_requests AS
    SELECT b.run_id, b.partition, b.scenario, i::INTEGER AS request_index, 1024 AS input_len, 256 AS output_len,
           b.ttft * (0.5 + (hash(b.run_id, b.scenario, i) % 1000) / 1000.0) AS ttft_ms,
           b.ttft + 255 * b.tpot AS latency_ms, b.tpot * (0.8 + (hash(i, b.run_id) % 400) / 1000.0) AS tpot_ms,
           b.tpot AS itl_mean_ms, i * 0.05 AS start_time_s,
           CASE WHEN hash(b.run_id, i, b.scenario) % 997 = 0 THEN 'synthetic: connection reset' END AS error
    FROM syn_results b, range({REQUESTS_PER_RUN // 5}) t(i)""",
    # About half the runs' answers evaluated: accuracy near 50 % on 299 items, one night in 40 a drop.
    """CREATE TEMP TABLE syn_accuracy AS
    SELECT run_id, partition, 'synthetic-set' AS eval_set, md5('synthetic-set') AS eval_set_sha, 299 AS items,
           correct, 0 AS errors, correct / 299.0 AS accuracy, correct / 299.0 - 0.056 AS accuracy_low,
           correct / 299.0 + 0.056 AS accuracy_high, hardware_fingerprint AS hardware_model,
           weights_revision, vllm_version, image_ref, image_digest,
           CASE WHEN n % 40 = 39 THEN 'drop' ELSE 'within noise' END AS verdict,
           'synthetic' AS verdict_sentence, 299 AS paired_items, CASE WHEN n % 40 = 39 THEN 40 ELSE 5 END AS lost,
           4 AS gained, 20 AS changed_texts, CASE WHEN n % 40 = 39 THEN 1e-6 ELSE 0.8 END AS p_value,
           CASE WHEN n % 40 = 39 THEN '["weights identity: rev-0 -> rev-1"]' ELSE '[]' END AS suspects,
           finished_at AS recorded_at
    FROM syn_runs, LATERAL (SELECT 140 + hash(run_id) % 20 AS correct)
    WHERE status = 'succeeded' AND p % 2 = 0""",
]
MEAN_AND_P99 = [
    f"{stat}_{metric}_ms" for metric in ("ttft", "tpot", "itl", "e2el") for stat in ("mean", "median", "p99")
]


def build_synthetic_history(path: Path) -> dict[str, int]:
    store = ResultsStore(path)
    store.create_or_migrate()
    connection = duckdb.connect(str(path))
    try:
        for statement in GENERATE:
            connection.execute(statement)
        # Summary metrics from the two base numbers: mean/median near them, p99 above.
        metrics = ", ".join(
            f"{'ttft' if 'ttft' in c else 'tpot'} * {1.6 if c.startswith('p99') else 1.0}"
            f"{' + 255 * tpot' if 'e2el' in c else ''} AS {c}"
            for c in MEAN_AND_P99
        )
        connection.execute(f"CREATE TEMP TABLE syn_results_full AS SELECT *, {metrics} FROM syn_results")
        connection.execute("""CREATE TEMP TABLE syn_hardware AS
            SELECT run_id, partition, hardware_fingerprint AS fingerprint, device = 'gpu' AS nvidia_driver_present,
                   '{"synthetic": true, "gpus": [{"name": "' || coalesce(gpu_model, '') || '"}]}' AS report_json,
                   finished_at AS recorded_at
            FROM syn_runs""")
        counts = {}
        for table, source in (
            ("runs", "syn_runs"),
            ("benchmark_results", "syn_results_full"),
            ("benchmark_requests", "syn_requests"),
            ("hardware_reports", "syn_hardware"),
            ("accuracy_runs", "syn_accuracy"),
        ):
            have = {
                r[0]
                for r in connection.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = ?", [table]
                ).fetchall()
            }
            if not have:
                print(f"  (the store has no {table} table yet: skipped)")
                continue
            offered = {r[0] for r in connection.execute(f"DESCRIBE {source}").fetchall()}
            columns = ", ".join(sorted(have & offered))
            connection.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {source}")
            counts[table] = connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        connection.execute("CHECKPOINT")
        return counts
    finally:
        connection.close()


def _measure_snapshot(db: Path) -> None:
    from resources.results.file_errors import read_every_block
    from resources.results.restore import restore_database
    from resources.results.store import SCHEMA_VERSION

    snapshot = ResultsStore(db).snapshot("timing")
    print(
        f"  snapshot (EXPORT DATABASE to Parquet, taken after every run): {snapshot.seconds:.2f} s, "
        f"{snapshot.size_bytes / 2**20:.1f} MiB beside the {db.stat().st_size / 2**20:.0f} MiB file"
    )
    connection = duckdb.connect(str(db), read_only=True)
    started = time.perf_counter()
    read_every_block(connection)
    connection.close()
    print(f"  the check of every block before each write: {time.perf_counter() - started:.2f} s")
    copy = db.with_name("restored_results.duckdb")
    started = time.perf_counter()
    restored = restore_database(copy, snapshot.path, SCHEMA_VERSION)
    print(
        f"  restore from it (python -m pipelines restore): {time.perf_counter() - started:.2f} s, "
        + ", ".join(f"{n:,} {table}" for table, n in restored.tables.items())
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="write the database and report here instead of a temp folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="report-speed-") as scratch:
        folder = args.keep or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        db = folder / "synthetic_results.duckdb"
        db.unlink(missing_ok=True)
        print("SYNTHETIC results history (made-up numbers, for timing only)")
        started = time.perf_counter()
        counts = build_synthetic_history(db)
        print(
            f"  built in {time.perf_counter() - started:.1f} s: "
            + ", ".join(f"{n:,} {table}" for table, n in counts.items())
            + f"; {db.stat().st_size / 2**20:.0f} MiB at {db}"
        )
        _measure_snapshot(db)
        print(f"  importing the report code (matplotlib, pandas; once per process): {IMPORT_S:.2f} s")
        totals = []
        for attempt in range(1, args.repeat + 1):
            started, cpu_started = time.perf_counter(), time.process_time()
            report = build_report(ResultsStore(db), folder / "reports")
            totals.append(time.perf_counter() - started)
            cpu = time.process_time() - cpu_started
            stages = ", ".join(f"{stage} {s:.2f} s" for stage, s in report.seconds.items())
            print(
                f"  report {attempt}: {totals[-1]:.2f} s wall, {cpu:.2f} s CPU ({stages}); "
                f"{len(report.data.latest)} latest rows, {len(report.data.recent_runs)} recent runs, "
                f"{report.data.drift_total} drift events, {len(report.charts)} charts"
            )
        spread = f"{min(totals):.2f}-{max(totals):.2f}"
        print(
            f"report over {counts.get('runs', 0):,} runs / {counts.get('benchmark_requests', 0):,} request rows: "
            f"median {statistics.median(totals):.2f} s (range {spread} s, {args.repeat} runs); "
            f"target < 2 s; load average now {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs"
        )
        print(f"  output: {report.html_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
