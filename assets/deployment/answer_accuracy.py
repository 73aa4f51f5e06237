from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    MaterializeResult,
    MetadataValue,
    asset,
)

from assets.partitions import deployment_partitions
from resources.dagster_resources import DeploymentCatalog, ResultsDatabase
from resources.evaluation.record import accuracy_not_measured, evaluate_and_judge
from resources.hardware.snapshot import HardwareSnapshot
from resources.runtime.values import ImageInfo, ServiceInfo
from resources.weights.fetch import Weights


@asset(
    partitions_def=deployment_partitions,
    kinds={"python", "duckdb"},
    check_specs=[
        AssetCheckSpec(
            "accuracy_no_drop",
            asset="answer_accuracy",
            description="The answers against the deployment's earlier run on the same hardware "
            "model and items: a drop is called only when McNemar's exact test on the paired "
            "items says so; greedy drift is reported, not called (resources/evaluation/"
            "verdict.py). Severity: the deployment's accuracy section.",
        )
    ],
    description="The deployment's evaluation set (configs/evals/) sent through the OpenAI API at temperature 0 and "
    "scored: accuracy with its 95 % interval, each item's greedy reply in DuckDB, and the verdict against the "
    "earlier run with what changed. Random-weight models and deployments without an evaluation set are n/a.",
)
def answer_accuracy(
    context: AssetExecutionContext,
    deployments: DeploymentCatalog,
    results_db: ResultsDatabase,
    hardware_report: HardwareSnapshot,
    vllm_image: ImageInfo,
    model_weights: Weights,
    vllm_service: ServiceInfo,
    smoke_test: dict,
):
    deployment = deployments.get(context.partition_key)
    reason = accuracy_not_measured(deployment)
    if reason:
        context.log.info(f"accuracy {reason}")
        return MaterializeResult(
            value={"status": reason},
            metadata={"accuracy": reason},
            check_results=[AssetCheckResult(check_name="accuracy_no_drop", passed=True, description=reason)],
        )
    policy = deployment.spec.accuracy
    evaluated = evaluate_and_judge(
        store=results_db.store(),
        run_id=context.run.run_id,
        deployment=deployment,
        config_root=deployments.root,
        hardware=hardware_report,
        image=vllm_image,
        weights=model_weights,
        service=vllm_service,
        api_key=deployment.runtime.api_key(),
        on_progress=context.log.info,
    )
    verdict = evaluated.verdict
    (context.log.warning if verdict.is_drop or verdict.status == "invalid" else context.log.info)(verdict.sentence)
    return MaterializeResult(
        value={"status": verdict.status, "accuracy": evaluated.row["accuracy"]},
        metadata={
            "accuracy": evaluated.row["accuracy"],
            "interval_95": f"{evaluated.row['accuracy_low']:.3f}-{evaluated.row['accuracy_high']:.3f}",
            "items": evaluated.row["items"],
            "correct": evaluated.row["correct"],
            "eval_set": f"{policy.eval_set} (sha256 {evaluated.row['eval_set_sha'][:12]})",
            "verdict": verdict.status,
            "verdict_sentence": verdict.sentence,
            "greedy_answers_changed": verdict.changed_texts,
            "seconds": evaluated.row["seconds"],
            "per_category": MetadataValue.md(evaluated.category_table),
            "sample_replies": MetadataValue.md(evaluated.sample_table),
        },
        check_results=[
            AssetCheckResult(
                check_name="accuracy_no_drop",
                passed=not verdict.is_drop and verdict.status != "invalid",
                severity=AssetCheckSeverity.ERROR if policy.severity == "error" else AssetCheckSeverity.WARN,
                description=verdict.sentence,
                metadata={
                    "lost": verdict.lost,
                    "gained": verdict.gained,
                    "changed_texts": verdict.changed_texts,
                    "p_value": -1.0 if verdict.p_value is None else verdict.p_value,
                    "suspects": "; ".join(verdict.suspects) or "none",
                },
            )
        ],
    )
