"""``python -m pipelines demo``: the embedded default through the whole chain, then the report.

By default it runs every CPU deployment of a trained model (SmolLM2 from its package): a first
report with real answers, an accuracy with its interval, and speed results that are valid
measurements. The tiny random-weight deployments stay for tests and CI; name partitions to run
others. It prints how long each step took.
"""

from __future__ import annotations

import time

from resources.config.eval_home import eval_home, reports_dir, results_db_path
from resources.config.loader import load_deployments
from resources.results.store import ResultsStore

SPEED_SQL = """
SELECT b.partition, b.scenario, b.completed, b.failed, round(b.mean_ttft_ms, 1) AS mean_ttft_ms,
       round(b.median_tpot_ms, 1) AS median_tpot_ms, round(b.output_throughput, 1) AS output_tok_s,
       CASE WHEN b.valid THEN 'valid' ELSE 'INVALID' END AS validity
FROM benchmark_results b JOIN runs r USING (run_id, partition)
WHERE r.run_id IN ({run_ids})
ORDER BY b.partition, b.scenario
"""
ACCURACY_SQL = """
SELECT partition, eval_set, correct, items, accuracy, accuracy_low, accuracy_high, verdict_sentence
FROM accuracy_runs WHERE run_id IN ({run_ids}) ORDER BY partition
"""


def demo_partitions(requested: list[str] | None = None) -> list[str]:
    deployments = load_deployments()
    if requested:
        unknown = sorted(set(requested) - set(deployments))
        if unknown:
            raise SystemExit(f"unknown deployment(s) {', '.join(unknown)}; known: {', '.join(sorted(deployments))}")
        return list(requested)
    cpu = {key: d for key, d in deployments.items() if d.runtime.device == "cpu"}
    return [key for key, d in cpu.items() if not d.random_weights] or list(cpu)


def step_times(instance, run_id: str) -> str:
    stats = sorted(instance.get_run_step_stats(run_id), key=lambda s: s.start_time or 0)
    return ", ".join(
        f"{s.step_key} {s.end_time - s.start_time:.1f} s"
        for s in stats
        if s.start_time is not None and s.end_time is not None
    )


def run_demo(requested: list[str] | None = None) -> int:
    from pipelines.definitions import defs
    from pipelines.instance import ensure_dagster_home, load_instance

    ensure_dagster_home()
    instance = load_instance()
    job = defs.resolve_job_def("deploy_and_evaluate")
    run_ids = []
    for partition in demo_partitions(requested):
        started = time.monotonic()
        print(f"== {partition}: deploy_and_evaluate", flush=True)
        result = job.execute_in_process(partition_key=partition, instance=instance, raise_on_error=False)
        print(
            f"== {partition}: {'succeeded' if result.success else 'FAILED'} in {time.monotonic() - started:.1f} s "
            f"(run {result.run_id})",
            flush=True,
        )
        print(f"   steps: {step_times(instance, result.run_id)}", flush=True)
        if not result.success:
            return 1
        run_ids.append(result.run_id)
    started = time.monotonic()
    report = defs.resolve_job_def("refresh_comparison_report").execute_in_process(instance=instance)
    print(
        f"== comparison_report: {'succeeded' if report.success else 'FAILED'} in {time.monotonic() - started:.1f} s",
        flush=True,
    )
    if not report.success:
        return 1
    store, ids = ResultsStore(results_db_path()), ", ".join(f"'{r}'" for r in run_ids)
    speed = store.query(SPEED_SQL.format(run_ids=ids))
    print()
    print(speed.to_string(index=False))
    if len(speed):
        print(f"\n{int((speed['validity'] == 'valid').sum())} of {len(speed)} speed results are valid measurements")
    for row in store.query(ACCURACY_SQL.format(run_ids=ids)).itertuples():
        print(
            f"\n{row.partition}: {row.correct} of {row.items} answers right on '{row.eval_set}': "
            f"{100 * row.accuracy:.1f} % (95 % interval {100 * row.accuracy_low:.1f}-{100 * row.accuracy_high:.1f} %)"
            f"\n  {row.verdict_sentence}"
        )
    print()
    print(f"Results database: {results_db_path()}")
    print(f"Report:           {reports_dir() / 'comparison_report.html'} (and .md, charts as .png)")
    print(f"Dagster instance: {eval_home() / 'dagster'} (see it with `make ui`)")
    print("Servers keep running for the next run (teardown: keep); `make stop` stops them.")
    return 0
