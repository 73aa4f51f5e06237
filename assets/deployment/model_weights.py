from dagster import AssetExecutionContext, MaterializeResult, asset

from assets.partitions import deployment_partitions
from resources.dagster_resources import DeploymentCatalog
from resources.runtime.values import ImageInfo
from resources.weights.fetch import Weights


@asset(
    partitions_def=deployment_partitions,
    kinds={"python"},
    description="The deployment's weights at a pinned revision (or content hash), generated, downloaded or "
    "found in a local folder, on the host that serves: on local disk, or for a remote Docker Engine in a "
    "named volume there (streamed in, or downloaded there from the hub), its content hash verified there.",
)
def model_weights(
    context: AssetExecutionContext, deployments: DeploymentCatalog, vllm_image: ImageInfo
) -> MaterializeResult[Weights]:
    runtime = deployments.runtime(context.partition_key)
    deployment = runtime.deployment
    context.log.info(f"getting weights for model '{deployment.model_name}' (source {deployment.model.source})")
    weights = runtime.place_weights(vllm_image, on_line=context.log.info)
    metadata = {
        "model_id": weights.model_id,
        "source": weights.source,
        "revision": weights.revision,
        "size_mib": round(weights.size_bytes / 2**20, 2),
    }
    placed = weights.on_host
    if placed is None:
        context.log.info(f"weights at {weights.path}, revision {weights.revision}")
        metadata["path"] = str(weights.path)
    else:
        metadata |= {
            "path": f"volume {placed.volume} on {placed.host}",
            "engine": placed.engine,
            "host": placed.host,
            "volume": placed.volume,
            "action": placed.action,
            "content_hash_on_host": f"sha256:{placed.content_hash}",
            "bytes_on_host": placed.size_bytes,
            "files_on_host": placed.files,
            "seconds": placed.seconds,
            # placed weights are compared with the hash computed here; a hub download has
            # nothing here to compare with, so its hash is recorded for the next run
            "verified_on_host": placed.action != "downloaded",
        }
    return MaterializeResult(value=weights, metadata=metadata)
