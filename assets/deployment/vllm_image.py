from dagster import AssetExecutionContext, MaterializeResult, asset

from assets.partitions import deployment_partitions
from resources.dagster_resources import DeploymentCatalog
from resources.runtime.values import ImageInfo


@asset(
    partitions_def=deployment_partitions,
    kinds={"python"},
    deps=["hardware_report"],
    description="What will serve: for the process runtime, the vLLM installed beside the pipeline "
    "(version, torch build, interpreter); for docker, the pinned image pulled (repo digest) or built "
    "from configs/ (image id, skipped when unchanged); for external, the endpoint and its version.",
)
def vllm_image(context: AssetExecutionContext, deployments: DeploymentCatalog) -> MaterializeResult[ImageInfo]:
    image = deployments.runtime(context.partition_key).prepare_image(on_line=context.log.info)
    context.log.info(f"serving with {image.image_ref} (vLLM {image.vllm_version})")
    return MaterializeResult(value=image, metadata=image.metadata())
