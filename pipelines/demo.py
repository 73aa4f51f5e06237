"""``python -m pipelines demo``: every CPU deployment through the whole chain, then the report."""

from __future__ import annotations

import time

from resources.config.loader import load_deployments
from resources.config.eval_home import eval_home, reports_dir, results_db_path
from resources.results.store import ResultsStore

SUMMARY_SQL = """
SELECT b.partition, b.scenario, b.completed, b.failed, round(b.mean_ttft_ms, 1) AS mean_ttft_ms,
       round(b.output_throughput, 1) AS output_tok_s, r.finished_at
FROM benchmark_results b JOIN runs r USING (run_id, partition)
WHERE r.run_id IN ({run_ids})
ORDER BY b.partition, b.scenario
"""


def run_demo() -> int:
    from pipelines.definitions import defs
    from pipelines.instance import ensure_dagster_home, load_instance

    ensure_dagster_home()
    instance = load_instance()
    cpu_partitions = [k for k, d in load_deployments().items() if d.runtime.device == "cpu"]
    job = defs.resolve_job_def("deploy_and_evaluate")
    run_ids = []
    for partition in cpu_partitions:
        started = time.monotonic()
        print(f"== {partition}: deploy_and_evaluate", flush=True)
        result = job.execute_in_process(partition_key=partition, instance=instance, raise_on_error=False)
        print(f"== {partition}: {'succeeded' if result.success else 'FAILED'} in {time.monotonic() - started:.1f} s "
              f"(run {result.run_id})", flush=True)
        if not result.success:
            return 1
        run_ids.append(result.run_id)
    report = defs.resolve_job_def("refresh_comparison_report").execute_in_process(instance=instance)
    if not report.success:
        return 1
    summary = ResultsStore(results_db_path()).query(
        SUMMARY_SQL.format(run_ids=", ".join(f"'{r}'" for r in run_ids))
    )
    print()
    print(summary.to_string(index=False))
    print()
    print(f"Results database: {results_db_path()}")
    print(f"Report:           {reports_dir() / 'comparison_report.html'} (and .md, charts as .png)")
    print(f"Dagster instance: {eval_home() / 'dagster'} (see it with `make ui`)")
    print("Servers keep running for the next run (teardown: keep); `make stop` stops them.")
    return 0
