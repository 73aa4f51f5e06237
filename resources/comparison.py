"""The comparison report: every partition's latest results, side by side (pure over a DataFrame)."""

from __future__ import annotations

import pandas as pd

from resources.results_store import ResultsStore

LATEST_PER_PARTITION_SQL = """
WITH latest AS (
    SELECT partition, run_id, finished_at,
           row_number() OVER (PARTITION BY partition ORDER BY finished_at DESC) AS n
    FROM runs WHERE status = 'succeeded'
)
SELECT b.partition, b.scenario, r.finished_at, r.run_id, r.hardware_fingerprint, r.vllm_version,
       r.config_hash, b.completed, b.failed, b.output_throughput, b.request_throughput,
       b.mean_ttft_ms, b.p99_ttft_ms, b.mean_tpot_ms, b.p99_tpot_ms, b.mean_itl_ms, b.p99_itl_ms
FROM latest l
JOIN runs r ON r.run_id = l.run_id AND r.partition = l.partition
JOIN benchmark_results b ON b.run_id = l.run_id AND b.partition = l.partition
WHERE l.n = 1
ORDER BY b.scenario, b.output_throughput DESC
"""

REPORT_COLUMNS = {
    "partition": "deployment", "scenario": "scenario", "completed": "ok", "failed": "failed",
    "output_throughput": "output tok/s", "request_throughput": "req/s", "mean_ttft_ms": "TTFT mean ms",
    "p99_ttft_ms": "TTFT p99 ms", "mean_tpot_ms": "TPOT mean ms", "p99_tpot_ms": "TPOT p99 ms",
    "mean_itl_ms": "ITL mean ms", "hardware_fingerprint": "hardware", "finished_at": "run finished (UTC)",
}


def latest_results(store: ResultsStore) -> pd.DataFrame:
    return store.query(LATEST_PER_PARTITION_SQL)


def render_comparison_markdown(latest: pd.DataFrame) -> str:
    """A markdown table per scenario, best output throughput first, with a note when results come
    from different hardware (they are then not directly comparable)."""
    if latest.empty:
        return "No benchmark results recorded yet: materialize benchmark_results for a partition first."
    sections = ["# Comparison of deployments (latest run of each)", ""]
    for scenario, rows in latest.groupby("scenario", sort=True):
        table = rows[list(REPORT_COLUMNS)].copy()
        numeric = table.select_dtypes("number").columns
        table[numeric] = table[numeric].round(2)
        table = table.rename(columns=REPORT_COLUMNS)
        sections += [f"## Scenario `{scenario}`", "", table.to_markdown(index=False), ""]
        if rows["hardware_fingerprint"].nunique() > 1:
            sections += ["**Different hardware fingerprints: these rows are not directly comparable.**", ""]
    sections.append("Metric definitions: vLLM's (`vllm bench serve`): TTFT to first streamed chunk, "
                    "TPOT excluding the first token, ITL pooled over requests.")
    return "\n".join(sections)
