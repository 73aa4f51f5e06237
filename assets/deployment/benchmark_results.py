from datetime import datetime, timezone
from functools import partial

from dagster import AssetCheckSpec, AssetExecutionContext, MaterializeResult, asset

from assets.metadata import check_result, dagster_metadata
from assets.partitions import deployment_partitions
from resources.benchmark.measure import measure_point, measured_trees
from resources.config.eval_home import bench_dir
from resources.config.secrets import mask
from resources.dagster_resources import DeploymentCatalog, ResultsDatabase
from resources.hardware.snapshot import HardwareSnapshot
from resources.report.run_summary import run_summary
from resources.results.benchmark_run import run_points
from resources.results.provenance import project_git_sha
from resources.results.regression import judge_recorded
from resources.results.run_record import run_row
from resources.results.startup import judge_start
from resources.runtime.values import ImageInfo, ServiceInfo
from resources.weights.fetch import Weights

CHECKS = [
    AssetCheckSpec(
        "no_regression",
        asset="benchmark_results",
        description="The latest run against the median of its last N valid runs of the same scenario on "
        "the same hardware model, whatever image, vLLM, weights or driver changed; called only beyond "
        "both the threshold and the noise (resources/results/regression.py). Policy: the deployment's "
        "regression section.",
    ),
    AssetCheckSpec(
        "startup_no_regression",
        asset="benchmark_results",
        description="This run's server start (to healthy, and each phase) against the deployment's "
        "recent starts in the same compile-cache state on the same hardware model, by the same rule "
        "as no_regression (resources/results/startup.py).",
    ),
    AssetCheckSpec(
        "valid_measurements",
        asset="benchmark_results",
        description="Every result is a valid measurement: requests completed, the stream streamed, "
        "long enough, load generator and host not in the way (resources/results/validity.py).",
    ),
]


@asset(
    partitions_def=deployment_partitions,
    kinds={"python", "duckdb"},
    # After the answers are scored: the evaluation's requests never overlap a measured load point.
    deps=["answer_accuracy"],
    check_specs=CHECKS,
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
    smoke_test: dict,  # not read: it puts the benchmark after the smoke test, never behind a failed one
):
    runtime = deployments.runtime(context.partition_key)
    deployment, run_id, started_at = runtime.deployment, context.run.run_id, _utcnow()
    api_key = deployment.runtime.api_key()
    run_record = partial(
        run_row,
        run_id=run_id,
        deployment=deployment,
        started_at=started_at,
        hardware=hardware_report,
        image=vllm_image,
        weights=model_weights,
        service=vllm_service,
    )
    measure = partial(
        measure_point,
        runtime,
        vllm_service,
        str(model_weights.path),
        api_key,
        measured_trees(runtime, vllm_service),
        log=context.log.info,
        context=context,
    )
    try:
        measured = run_points(
            list(deployment.spec.benchmarks),
            measure,
            run_id=run_id,
            partition=context.partition_key,
            prefix_caching=deployment.params.enable_prefix_caching,
            out_dir=bench_dir() / context.partition_key / run_id,
            server_started=not vllm_service.reused,
            log=context.log,
        )
    except Exception as exc:
        # A broken benchmark leaves a failed run with no result rows (never half a run) and no
        # server behind it, whatever the teardown policy says.
        context.log.error(f"benchmark failed; recording the run as failed and stopping the server: {exc}")
        runtime.stop()
        failed = run_record(finished_at=_utcnow(), status="failed", git_sha=project_git_sha())
        results_db.store().record_failed_run(failed | {"error": mask(str(exc), api_key)[:4000]})
        raise
    if deployment.runtime.teardown == "stop":
        context.log.info("teardown: stop; stopping the server")
        runtime.stop()

    store = results_db.store()
    store.record_run(
        run_record(finished_at=_utcnow(), status="succeeded", git_sha=project_git_sha()),
        measured.rows,
        measured.requests,
        measured.repetition_rows,
        measured.capacities,
    )
    context.log.info(f"results snapshot: {store.snapshot().describe()}")
    policy = deployment.spec.regression
    judgement = judge_recorded(store, context.partition_key, run_id, policy.thresholds, policy.window)
    for regression in judgement.regressions:
        context.log.warning(f"regression: {regression.describe()}")
    start = judge_start(store, context.partition_key, run_id, policy.startup_threshold, policy.window)
    for regression in start.regressions:
        context.log.warning(f"start-up regression: {regression.describe()}")
    summary = run_summary(
        measured.rows,
        measured.requests,
        judgement,
        start,
        policy,
        vllm_service,
        hardware_report.fingerprint,
        store.path,
    )
    return MaterializeResult(
        value={"run_id": run_id, "scenarios": [r["scenario"] for r in measured.rows]},
        metadata=dagster_metadata(summary.metadata),
        check_results=[check_result(check) for check in summary.checks],
    )


def _utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)
