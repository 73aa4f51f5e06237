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
from resources.results.startup import WARM_CAPACITY_SQL, kv_capacity_verdict
from resources.runtime.command_line import shell_join
from resources.runtime.compile_cache import wants_cold_start
from resources.runtime.values import ImageInfo
from resources.serving.vllm_args import config_hash
from resources.weights.fetch import Weights


@asset(
    partitions_def=deployment_partitions,
    kinds={"python"},
    check_specs=[
        AssetCheckSpec(
            "kv_capacity",
            asset="vllm_service",
            description="The engine's KV-cache capacity is not smaller than this "
            "configuration's earlier warm starts (a first compile can shrink it).",
        )
    ],
    description="A running vLLM server for the deployment, healthy on its port: a local process, a "
    "container (docker runtime, followed through its start-up phases) or an endpoint already up "
    "(external, only checked); a healthy server with the same config hash is reused.",
)
def vllm_service(
    context: AssetExecutionContext,
    deployments: DeploymentCatalog,
    results_db: ResultsDatabase,
    vllm_image: ImageInfo,
    model_weights: Weights,
):
    runtime = deployments.runtime(context.partition_key)
    hash_ = config_hash(runtime.deployment, model_weights.identity, vllm_image.image_digest)
    placed = model_weights.on_host
    service = runtime.ensure_service(
        vllm_image,
        str(model_weights.path),
        hash_,
        on_progress=context.log.info,
        cold_start=wants_cold_start(context.run.tags),
        weights_volume=placed.volume if placed else None,
    )
    metadata = {
        "runtime": runtime.kind,
        "base_url": service.base_url,
        "config_hash": hash_,
        "reused": service.reused,
        "startup_s": round(service.startup_s, 2) if service.startup_s is not None else "reused",
        "phases_reached": ", ".join(service.phases),
        "phase_durations_s": MetadataValue.json(service.phase_durations),
        "compile_cache": service.compile_cache or "none (nothing compiled)",
        "cold_start": service.cold_start,
        "kv_cache_tokens": service.kv_cache_tokens if service.kv_cache_tokens is not None else "unknown",
        "max_concurrency": service.max_concurrency if service.max_concurrency is not None else "unknown",
    }
    if service.command:  # exactly what ran (docker: the whole `docker run`), secrets masked
        metadata["serve_command"] = MetadataValue.text(shell_join(list(service.command)))
    if service.container is not None:
        metadata |= {"container": service.container.name, "engine": service.container.engine}
    if service.log_path:
        metadata["log"] = service.log_path
    warm = results_db.store().query(WARM_CAPACITY_SQL, [context.partition_key, hash_, 5])
    capacity = kv_capacity_verdict(
        service.kv_cache_tokens, [] if warm.empty else [int(t) for t in warm["kv_cache_tokens"]]
    )
    if not capacity.passed:
        context.log.warning(capacity.description)
    return MaterializeResult(
        value=service,
        metadata=metadata,
        check_results=[
            AssetCheckResult(
                check_name="kv_capacity",
                passed=capacity.passed,
                severity=AssetCheckSeverity.WARN,
                description=capacity.description,
                metadata={
                    "kv_cache_tokens": service.kv_cache_tokens or 0,
                    "warm_baseline": capacity.baseline_tokens or 0,
                },
            )
        ],
    )
