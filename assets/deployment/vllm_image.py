import os
from pathlib import Path

from dagster import AssetExecutionContext, MaterializeResult, asset

from assets.partitions import deployment_partitions
from resources.dagster_resources import DeploymentCatalog
from resources.config.loader import config_dir
from resources.runtime.docker.runtime import prepare_image
from resources.runtime.external import describe_endpoint
from resources.serving.local_vllm import describe_local_vllm


@asset(
    partitions_def=deployment_partitions,
    group_name="deployment",
    kinds={"python"},
    deps=["hardware_report"],
    description="What will serve: for the process runtime, the vLLM installed beside the pipeline "
    "(version, torch build, interpreter); for docker, the pinned image pulled (repo digest) or built "
    "from configs/ (image id, skipped when unchanged); for external, the endpoint and its version.",
)
def vllm_image(context: AssetExecutionContext, deployments: DeploymentCatalog) -> MaterializeResult:
    deployment = deployments.get(context.partition_key)
    kind = deployment.runtime.kind
    if kind == "docker":
        image = prepare_image(deployment, Path(deployments.config_root or config_dir()), on_line=context.log.info)
    elif kind == "external":
        api_key_env = deployment.runtime.api_key_env
        image = describe_endpoint(deployment.runtime.base_url, os.environ.get(api_key_env) if api_key_env else None)
    else:
        image = describe_local_vllm()
    context.log.info(f"serving with {image['image_ref']} (vLLM {image['vllm_version']})")
    return MaterializeResult(value=image, metadata={k: str(v) for k, v in image.items()})
