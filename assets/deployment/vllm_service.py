from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from assets.partitions import deployment_partitions
from resources.dagster_resources import DeploymentCatalog
from resources.process_runtime import find_reusable, start_service
from resources.serve_command import config_hash, render_serve_args
from resources.startup_log import read_startup_log


@asset(
    partitions_def=deployment_partitions,
    group_name="deployment",
    kinds={"python"},
    description="A running vLLM server for the deployment, healthy on its port; a healthy server "
    "with the same config hash is reused.",
)
def vllm_service(
    context: AssetExecutionContext, deployments: DeploymentCatalog, vllm_image: dict, model_weights: dict
) -> MaterializeResult:
    deployment = deployments.get(context.partition_key)
    runtime = deployment.runtime
    serve_args = render_serve_args(deployment, model_weights["path"])
    hash_ = config_hash(deployment, model_weights["identity"], vllm_image["image_digest"])
    reused = find_reusable(context.partition_key, hash_)
    if reused is not None:
        state, startup_s = reused, None
        reading = read_startup_log(open(state.log_path, errors="replace").read())
        context.log.info(f"reusing healthy server pid {state.pid} at {state.base_url} (config {hash_})")
    else:
        context.log.info(f"starting vllm serve {' '.join(serve_args)}")
        state, reading, startup_s = start_service(
            context.partition_key, serve_args, runtime.host, runtime.port, hash_, dict(runtime.env),
            runtime.startup_timeout_s, on_progress=context.log.info,
        )
        context.log.info(f"server healthy at {state.base_url} after {startup_s:.1f} s")
    value = {
        "base_url": state.base_url, "served_model_name": deployment.served_model_name,
        "config_hash": hash_, "pid": state.pid, "serve_args": serve_args, "startup_s": startup_s,
        "reused": reused is not None, "log_path": state.log_path,
    }
    phases = reading.phase_durations()
    return MaterializeResult(value=value, metadata={
        "base_url": state.base_url,
        "config_hash": hash_,
        "reused": reused is not None,
        "startup_s": round(startup_s, 2) if startup_s is not None else "reused",
        "phases_reached": ", ".join(reading.reached),
        "phase_durations_s": MetadataValue.json(phases),
        "serve_command": MetadataValue.text("vllm serve " + " ".join(serve_args)),
        "log_path": MetadataValue.path(state.log_path),
    })
