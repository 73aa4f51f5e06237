import os
from datetime import datetime, timezone

import pandas as pd
from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from assets.partitions import deployment_partitions
from resources.bench_command import render_bench_args, scenario_seed
from resources.bench_result import parse_bench_result
from resources.bench_runner import run_bench_serve
from resources.dagster_resources import DeploymentCatalog, ResultsDatabase
from resources.eval_home import bench_dir
from resources.process_runtime import stop_service
from resources.provenance import project_git_sha

SUMMARY_COLUMNS = ["scenario", "completed", "failed", "output_throughput", "mean_ttft_ms", "p99_ttft_ms",
                   "mean_tpot_ms", "mean_itl_ms"]


@asset(
    partitions_def=deployment_partitions,
    group_name="deployment",
    kinds={"python", "duckdb"},
    description="vLLM's own benchmark (vllm bench serve) for each scenario of the deployment, parsed "
    "into DuckDB with the run's provenance.",
)
def benchmark_results(
    context: AssetExecutionContext,
    deployments: DeploymentCatalog,
    results_db: ResultsDatabase,
    hardware_report: dict,
    vllm_image: dict,
    model_weights: dict,
    vllm_service: dict,
    smoke_test: dict,
) -> MaterializeResult:
    deployment = deployments.get(context.partition_key)
    started_at = datetime.now(timezone.utc).replace(tzinfo=None)
    api_key = os.environ.get(deployment.runtime.api_key_env) if deployment.runtime.api_key_env else None
    out_dir = bench_dir() / context.partition_key / context.run.run_id
    rows = []
    try:
        for scenario in deployment.spec.benchmarks:
            seed = scenario_seed(scenario, context.run.run_id)
            args = render_bench_args(scenario, vllm_service["base_url"], vllm_service["served_model_name"],
                                     model_weights["path"], str(out_dir), f"{scenario.name}.json", seed)
            context.log.info(f"scenario {scenario.name}: vllm bench serve {' '.join(args)}")
            raw = run_bench_serve(args, out_dir / f"{scenario.name}.json",
                                  env={"OPENAI_API_KEY": api_key} if api_key else None,
                                  on_line=lambda line: _log_progress(context, line))
            row = parse_bench_result(raw, str(out_dir / f"{scenario.name}.json"))
            rows.append({
                "run_id": context.run.run_id, "partition": context.partition_key, "scenario": scenario.name, **row,
                "seed": seed, "prefix_caching": _prefix_caching(deployment.params.enable_prefix_caching),
                "metric_definitions": "vllm", "bench_args": " ".join(args),
                "result_file": str(out_dir / f"{scenario.name}.json"),
            })
            context.log.info(
                f"scenario {scenario.name}: {row['completed']} completed, {row['failed']} failed, "
                f"{row['output_throughput']:.1f} output tok/s, mean TTFT {row['mean_ttft_ms']:.1f} ms"
            )
    finally:
        if deployment.runtime.teardown == "stop":
            context.log.info("teardown: stop; stopping the server")
            stop_service(context.partition_key)

    run = {
        "run_id": context.run.run_id, "partition": context.partition_key, "started_at": started_at,
        "finished_at": datetime.now(timezone.utc).replace(tzinfo=None), "status": "succeeded",
        "git_sha": project_git_sha(), "model_id": model_weights["model_id"],
        "weights_source": model_weights["source"], "weights_revision": model_weights["revision"],
        "image_ref": vllm_image["image_ref"], "image_digest": vllm_image["image_digest"],
        "vllm_version": vllm_image["vllm_version"], "hardware_fingerprint": hardware_report["fingerprint"],
        "config_hash": vllm_service["config_hash"], "serve_args": " ".join(vllm_service["serve_args"]),
        "startup_s": vllm_service["startup_s"], "service_reused": vllm_service["reused"], "origin": "pipeline",
    }
    store = results_db.store()
    store.record_run(run, rows)
    summary = pd.DataFrame(rows)[SUMMARY_COLUMNS].round(2)
    first = rows[0]
    return MaterializeResult(
        value={"run_id": context.run.run_id, "scenarios": [r["scenario"] for r in rows]},
        metadata={
            "results_db": MetadataValue.path(str(store.path)),
            "scenarios": len(rows),
            "completed": int(sum(r["completed"] for r in rows)),
            "failed": int(sum(r["failed"] for r in rows)),
            "output_throughput": round(first["output_throughput"], 2),
            "mean_ttft_ms": round(first["mean_ttft_ms"], 2),
            "mean_tpot_ms": round(first["mean_tpot_ms"], 2),
            "summary": MetadataValue.md(summary.to_markdown(index=False)),
            "config_hash": vllm_service["config_hash"],
            "hardware_fingerprint": hardware_report["fingerprint"],
        },
    )


def _prefix_caching(setting: bool | None) -> str:
    return {True: "on", False: "off", None: "server default"}[setting]


def _log_progress(context: AssetExecutionContext, line: str) -> None:
    # vLLM prints its full argument namespace at start; the summary block is what users read.
    if line and not line.startswith("Namespace("):
        context.log.debug(line)
