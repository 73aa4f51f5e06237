from dagster import AssetExecutionContext, MaterializeResult, asset

from assets.partitions import deployment_partitions
from resources.dagster_resources import DeploymentCatalog
from resources.weights.fetch import Weights, fetch_weights


@asset(
    partitions_def=deployment_partitions,
    kinds={"python"},
    deps=["vllm_image"],
    description="The deployment's weights on local disk at a pinned revision (or content hash), "
    "generated, downloaded or found in a local folder.",
)
def model_weights(context: AssetExecutionContext, deployments: DeploymentCatalog) -> MaterializeResult[Weights]:
    deployment = deployments.get(context.partition_key)
    context.log.info(f"getting weights for model '{deployment.model_name}' (source {deployment.model.source})")
    weights = fetch_weights(deployment.model_name, deployment.model)
    context.log.info(f"weights at {weights.path}, revision {weights.revision}")
    return MaterializeResult(value=weights, metadata={
        "path": str(weights.path), "model_id": weights.model_id, "source": weights.source,
        "revision": weights.revision, "size_mib": round(weights.size_bytes / 2**20, 2),
    })
