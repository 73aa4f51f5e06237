from dagster import AssetExecutionContext, MaterializeResult, asset

from assets.partitions import deployment_partitions
from resources.dagster_resources import DeploymentCatalog
from resources.local_vllm import describe_local_vllm


@asset(
    partitions_def=deployment_partitions,
    group_name="deployment",
    kinds={"python"},
    deps=["hardware_report"],
    description="What will serve: for the process runtime, the vLLM installed beside the pipeline "
    "(version, torch build, interpreter).",
)
def vllm_image(context: AssetExecutionContext, deployments: DeploymentCatalog) -> MaterializeResult:
    deployment = deployments.get(context.partition_key)
    if deployment.runtime.kind != "process":
        raise NotImplementedError(
            f"runtime kind '{deployment.runtime.kind}' of '{context.partition_key}' has no image step yet; "
            "use runtime.kind: process"
        )
    image = describe_local_vllm()
    context.log.info(f"serving with {image['image_ref']} (vLLM {image['vllm_version']})")
    return MaterializeResult(value=image, metadata={k: str(v) for k, v in image.items()})
