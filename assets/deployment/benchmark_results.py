import os
from contextlib import nullcontext
from datetime import datetime, timezone

import pandas as pd
from dagster import (
    AssetCheckResult, AssetCheckSeverity, AssetCheckSpec, AssetExecutionContext, MaterializeResult,
    MetadataValue, asset,
)

from assets.partitions import deployment_partitions
from resources.benchmark.command import expand_scenario, render_bench_args, repetition_seed
from resources.results.bench_json import failed_requests, parse_bench_result, parse_request_rows
from resources.dagster_resources import DeploymentCatalog, ResultsDatabase
from resources.hardware.snapshot import HardwareSnapshot
from resources.runtime.values import ImageInfo, ServiceInfo
from resources.weights.fetch import Weights
from resources.config.eval_home import bench_dir
from resources.hardware.scenario_energy import scenario_energy
from resources.results.provenance import project_git_sha
from resources.config.secrets import mask
from resources.benchmark.host_usage import Sampler
from resources.results.regression import judge_recorded, scenario_outcome
from resources.results.repetitions import combine_repetitions, repetition_row
from resources.report.markdown import markdown_table
from resources.results.run_record import result_row, run_row
from resources.results.startup import judge_start
from resources.results.validity import judge_validity
from resources.serving.server_metrics import fetch_metrics
from resources.serving.server_peaks import ServerPeaks
from resources.serving.server_side import server_side_delta

SUMMARY_COLUMNS = ["scenario", "completed", "failed", "output_throughput", "mean_ttft_ms", "p99_ttft_ms",
                   "mean_tpot_ms", "median_tpot_ms", "mean_itl_ms", "joules_per_output_token"]


def _utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


@asset(
    partitions_def=deployment_partitions,
    kinds={"python", "duckdb"},
    # After the answers are scored: the evaluation's requests never overlap a measured load point.
    deps=["answer_accuracy"],
    check_specs=[AssetCheckSpec("no_regression", asset="benchmark_results",
                                description="The latest run against the median of its last N valid runs of the "
                                "same scenario on the same hardware model, whatever image, vLLM, weights or driver "
                                "changed; called only beyond both the threshold and the noise "
                                "(resources/results/regression.py). Policy: the deployment's regression section."),
                 AssetCheckSpec("startup_no_regression", asset="benchmark_results",
                                description="This run's server start (to healthy, and each phase) against the "
                                "deployment's recent starts in the same compile-cache state on the same hardware "
                                "model, by the same rule as no_regression (resources/results/startup.py)."),
                 AssetCheckSpec("valid_measurements", asset="benchmark_results",
                                description="Every result is a valid measurement: requests completed, the stream "
                                "streamed, long enough, load generator and host not in the way "
                                "(resources/results/validity.py).")],
    description="vLLM's own benchmark (vllm bench serve) for each scenario of the deployment, parsed "
    "into DuckDB with the run's provenance; per-request rows when the scenario keeps them.",
)
def benchmark_results(
    context: AssetExecutionContext,
    deployments: DeploymentCatalog,
    results_db: ResultsDatabase,
    hardware_report: HardwareSnapshot,
    vllm_image: ImageInfo,
    model_weights: Weights,
    vllm_service: ServiceInfo,
    smoke_test: dict,
):
    runtime = deployments.runtime(context.partition_key)
    deployment = runtime.deployment
    run_id = context.run.run_id
    started_at = _utcnow()
    api_key = os.environ.get(deployment.runtime.api_key_env) if deployment.runtime.api_key_env else None
    out_dir = bench_dir() / context.partition_key / run_id
    points = [point for scenario in deployment.spec.benchmarks for point in expand_scenario(scenario)]
    # The server's process tree or container group is the same for every load point: found once
    # (for a container, that is a question to its engine).
    trees = _process_trees(runtime, vllm_service)
    rows, requests, repetition_rows = [], [], []
    try:
        for number, point in enumerate(points, start=1):
            repeat = point.scenario.repeat
            measured = []
            for repetition in range(1, repeat + 1):
                label = f"[{number}/{len(points)}] {point.name}" + (f" #{repetition}/{repeat}" if repeat > 1 else "")
                suffix = f"_rep{repetition}" if repeat > 1 else ""
                measured.append(_measure(context, runtime, vllm_service, model_weights, api_key, trees, point, label,
                                         out_dir / f"{point.name.replace('/', '_')}{suffix}.json",
                                         repetition_seed(point.name, run_id, point.scenario.seed, repetition)))
            point_rows = [row for row, _ in measured]
            if repeat > 1:
                # Each repetition's row is kept; the rest of the project reads their combination.
                repetition_rows += [repetition_row(row, k) for k, row in enumerate(point_rows, start=1)]
                for k, (_, point_requests) in enumerate(measured, start=1):
                    for r in point_requests:
                        r["repetition"] = k
            row = combine_repetitions(point_rows, [r for _, r in measured])
            # Whatever ran first on a server this run started met it cold (kernels compiled on
            # first use): recorded, so a slower first scenario can be told from a slower vLLM.
            row["first_load_after_start"] = number == 1 and not vllm_service.reused
            if row["first_load_after_start"]:
                context.log.info(f"[1/{len(points)}] {point.name} was the first load on the server this run started: "
                                 "one-time kernel compilation may show in its first requests' TTFT")
            rows.append(row)
            requests += [r for _, point_requests in measured for r in point_requests]
            if repeat > 1:
                low, high = row["output_throughput_low"], row["output_throughput_high"]
                context.log.info(f"[{number}/{len(points)}] {point.name}: {row['valid_repetitions']} of {repeat} "
                                 f"repetitions valid; median {row['output_throughput']:.1f} output tok/s"
                                 + (f" ({low:.1f}-{high:.1f}, {row['throughput_interval']})" if low is not None else ""))
    except Exception as exc:
        # A broken benchmark leaves a failed run with no result rows (never half a run) and no
        # server behind it, whatever the teardown policy says.
        context.log.error(f"benchmark failed; recording the run as failed and stopping the server: {exc}")
        runtime.stop()
        failed = run_row(run_id=run_id, deployment=deployment, started_at=started_at, finished_at=_utcnow(),
                         status="failed", git_sha=project_git_sha(), hardware=hardware_report, image=vllm_image,
                         weights=model_weights, service=vllm_service)
        results_db.store().record_failed_run(failed | {"error": mask(str(exc), api_key)[:4000]})
        raise
    if deployment.runtime.teardown == "stop":
        context.log.info("teardown: stop; stopping the server")
        runtime.stop()

    run = run_row(run_id=run_id, deployment=deployment, started_at=started_at, finished_at=_utcnow(),
                  status="succeeded", git_sha=project_git_sha(), hardware=hardware_report, image=vllm_image,
                  weights=model_weights, service=vllm_service)
    store = results_db.store()
    store.record_run(run, rows, requests, repetition_rows)
    context.log.info(f"results snapshot: {store.snapshot().describe()}")
    policy = deployment.spec.regression
    judgement = judge_recorded(store, context.partition_key, run_id, policy.thresholds, policy.window)
    regressions = judgement.regressions
    for regression in regressions:
        context.log.warning(f"regression: {regression.describe()}")
    start = judge_start(store, context.partition_key, run_id, policy.startup_threshold, policy.window)
    for regression in start.regressions:
        context.log.warning(f"start-up regression: {regression.describe()}")
    invalid = [r for r in rows if not r["valid"]]
    summary = pd.DataFrame(rows)[SUMMARY_COLUMNS].round(2)
    summary["verdict"] = [scenario_outcome(v.outcome for v in judgement.for_scenario(r["scenario"])) for r in rows]
    # The reasons are in the valid_measurements check: a long cell would fold the table in the UI.
    summary["valid"] = ["yes" if r["valid"] else "INVALID" for r in rows]
    first = rows[0]
    return MaterializeResult(
        value={"run_id": run_id, "scenarios": [r["scenario"] for r in rows]},
        metadata={
            "results_db": MetadataValue.path(str(store.path)),
            "scenarios": len(rows),
            "request_rows": len(requests),
            "completed": int(sum(r["completed"] for r in rows)),
            "failed": int(sum(r["failed"] for r in rows)),
            "output_throughput": round(first["output_throughput"], 2),
            "mean_ttft_ms": round(first["mean_ttft_ms"], 2),
            "mean_tpot_ms": round(first["mean_tpot_ms"], 2),
            "summary": MetadataValue.md(markdown_table(summary.astype(object).where(summary.notna(), "–"),
                                                       pad=False)),
            "invalid_results": len(invalid),
            "config_hash": vllm_service.config_hash,
            "hardware_fingerprint": hardware_report.fingerprint,
        },
        check_results=[AssetCheckResult(
            check_name="no_regression", passed=not regressions,
            severity=AssetCheckSeverity.ERROR if policy.severity == "error" else AssetCheckSeverity.WARN,
            description="\n".join(r.describe() for r in regressions) or
            "no metric slower beyond both its threshold and the noise of this partition's valid history",
            metadata={"regressions": len(regressions),
                      "metrics": ", ".join(sorted({r.metric for r in regressions})) or "none",
                      "suspects": "; ".join(sorted({s for r in regressions for s in r.suspects})) or "none",
                      "verdicts": MetadataValue.md(_verdict_table(judgement.verdicts))},
        ), AssetCheckResult(
            check_name="startup_no_regression", passed=not start.regressions,
            severity=AssetCheckSeverity.ERROR if policy.severity == "error" else AssetCheckSeverity.WARN,
            description="\n".join(r.describe() for r in start.regressions) or (
                "the server was reused: no start to judge" if vllm_service.reused else
                "no start-up phase slower beyond both its threshold and the noise of this deployment's starts"),
            metadata={"startup_s": round(vllm_service.startup_s, 2) if vllm_service.startup_s else 0.0,
                      "compile_cache": vllm_service.compile_cache or "none",
                      "verdicts": MetadataValue.md(_verdict_table(start.verdicts))},
        ), AssetCheckResult(
            check_name="valid_measurements", passed=not invalid, severity=AssetCheckSeverity.WARN,
            description="\n".join(f"{r['scenario']}: {r['invalid_reasons']}" for r in invalid) or
            "every result is a valid measurement",
            metadata={"invalid_results": len(invalid)},
        )],
    )


def _measure(context, runtime, vllm_service: ServiceInfo, model_weights: Weights, api_key: str | None,
             trees: dict, point, label: str, result_file, seed: int) -> tuple[dict, list[dict]]:
    """One ``vllm bench serve`` call of a load point: its result row and its per-request rows."""
    run_id, partition = context.run.run_id, context.partition_key
    deployment = runtime.deployment
    args = render_bench_args(point, vllm_service.base_url, vllm_service.served_model_name,
                             str(model_weights.path), str(result_file.parent), result_file.name, seed)
    context.log.info(f"{label}: vllm bench serve {' '.join(args)}")
    metrics_before = fetch_metrics(vllm_service.base_url, api_key)
    meter = runtime.energy_meter()
    with meter or nullcontext(), Sampler(trees) as sampler, \
            ServerPeaks(vllm_service.base_url, api_key) as peaks:
        raw = runtime.run_benchmark(vllm_service, args, result_file,
                                    on_line=lambda line: _log_progress(context, line, meter),
                                    env={"OPENAI_API_KEY": api_key} if api_key else None,
                                    context=context)
    server_side = server_side_delta(metrics_before, fetch_metrics(vllm_service.base_url, api_key))
    parsed = parse_bench_result(raw, str(result_file))
    failed_requests(parsed, raw, point.name)
    point_requests = parse_request_rows(raw)
    usage = _usage_row(sampler, parsed["duration_s"])
    validity = judge_validity(parsed, point_requests, usage,
                              point.request_rate if point.max_concurrency is None else None)
    row = (result_row(run_id=run_id, partition=partition, point=point, parsed=parsed,
                      seed=seed, prefix_caching=deployment.params.enable_prefix_caching,
                      bench_args=args, result_file=str(result_file))
           | scenario_energy(meter, parsed, result_file)
           | validity.as_row() | {k: v for k, v in (usage or {}).items() if k != "cpu_count"}
           | server_side | peaks.as_row())
    if not validity.valid:
        context.log.warning(f"{label}: INVALID: {validity.reason_text}")
    context.log.info(
        f"{label}: {parsed['completed']} completed, {parsed['failed']} failed, "
        f"{parsed['output_throughput']:.1f} output tok/s, mean TTFT {parsed['mean_ttft_ms']:.1f} ms"
    )
    return row, [{"run_id": run_id, "partition": partition, "scenario": point.name, **r} for r in point_requests]


def _process_trees(runtime, service: ServiceInfo) -> dict:
    """What is the measurement itself: the server (its process tree, or its container's control
    group; None where this machine cannot see it) and this step's tree, which runs the load generator."""
    return {"server": runtime.server_cpu_source(service), "load_generator": os.getpid()}


def _usage_row(sampler: Sampler, duration_s: float) -> dict | None:
    usage = sampler.last_seconds(duration_s)
    if usage is None:
        return None
    row = usage.as_row()
    if "server" not in usage.own_cores:  # the server's own load is unknown: contention cannot be told
        row["other_cpu_cores"] = None
    return row


def _verdict_table(verdicts) -> str:
    if not verdicts:
        return "no metric judged"
    return pd.DataFrame([{"scenario": v.scenario, "metric": v.metric, "verdict": v.outcome, "figure": v.figure(),
                          "suspects": "; ".join(v.suspects) or "–"} for v in verdicts]).to_markdown(index=False)


def _log_progress(context: AssetExecutionContext, line: str, meter=None) -> None:
    # vLLM prints its full argument namespace at start; the summary block is what users read.
    # The lines go to the step's captured stdout (the run's stdout log in the UI, the terminal
    # under `dagster job execute`), not one Dagster event each: an event is a SQLite write
    # (about 10 ms here) and a concurrency ladder prints hundreds of lines while it is measured.
    if meter is not None:
        meter.note_line(line)
    if line and not line.startswith("Namespace("):
        print(line, flush=True)
