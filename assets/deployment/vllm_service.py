from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from assets.partitions import deployment_partitions
from resources.dagster_resources import DeploymentCatalog
from resources.runtime.docker.plan import shell_join
from resources.runtime.docker.runtime import ensure_service
from resources.runtime.docker.spec import docker_run_argv, render_container_spec
from resources.runtime.external import check_endpoint
from resources.serving import smoke_client
from resources.benchmark import worker as vllm_bench_worker
from resources.runtime.process import find_reusable, server_env, start_service
from resources.serving.vllm_args import config_hash, render_serve_args
from resources.serving.startup_log import read_startup_log


@asset(
    partitions_def=deployment_partitions,
    group_name="deployment",
    kinds={"python"},
    description="A running vLLM server for the deployment, healthy on its port: a local process, a "
    "container (docker runtime, followed through its start-up phases) or an endpoint already up "
    "(external, only checked); a healthy server with the same config hash is reused.",
)
def vllm_service(
    context: AssetExecutionContext, deployments: DeploymentCatalog, vllm_image: dict, model_weights: dict
) -> MaterializeResult:
    deployment = deployments.get(context.partition_key)
    runtime = deployment.runtime
    serve_args = render_serve_args(deployment, model_weights["path"])
    hash_ = config_hash(deployment, model_weights["identity"], vllm_image["image_digest"])
    if runtime.kind != "process":
        return _container_or_endpoint(context, deployment, vllm_image, model_weights, hash_)
    reused = find_reusable(context.partition_key, hash_)
    if reused is not None:
        state, startup_s = reused, None
        reading = read_startup_log(open(state.log_path, errors="replace").read())
        context.log.info(f"reusing healthy server pid {state.pid} at {state.base_url} (config {hash_})")
    else:
        # The benchmark runs the local `vllm bench serve`: start its worker now, so that it imports
        # vLLM while the server starts instead of after (measured: 5-8 s less per cold run on 2
        # cores; beside a reused server it would only compete with the smoke test, so not there).
        vllm_bench_worker.prewarm()
        smoke_client.prewarm()  # the OpenAI client's import, likewise
        context.log.info(f"starting vllm serve {' '.join(serve_args)}")
        state, reading, startup_s = start_service(
            context.partition_key, serve_args, runtime.host, runtime.port, hash_, server_env(runtime),
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


def _container_or_endpoint(context, deployment, vllm_image: dict, model_weights: dict, hash_: str):
    """The docker runtime starts (or reuses) the container; an external endpoint is only checked."""
    if deployment.runtime.kind == "external":
        base_url = deployment.runtime.base_url
        check_endpoint(base_url)
        context.log.info(f"external endpoint {base_url} answers /health; the pipeline does not start or stop it")
        value = {"base_url": base_url, "served_model_name": deployment.served_model_name, "config_hash": hash_,
                 "serve_args": [], "startup_s": None, "reused": True, "log_path": ""}
        return MaterializeResult(value=value, metadata={"base_url": base_url, "config_hash": hash_,
                                                        "runtime": "external"})
    value, diagnosis, startup_s = ensure_service(deployment, vllm_image, model_weights["path"], hash_,
                                                 on_progress=context.log.info)
    return MaterializeResult(value=value, metadata={
        "base_url": value["base_url"],
        "config_hash": hash_,
        "reused": value["reused"],
        "startup_s": round(startup_s, 2) if startup_s is not None else "reused",
        "phases_reached": ", ".join(diagnosis.phases),
        "phase_durations_s": MetadataValue.json(diagnosis.durations),
        "container": value["container"],
        "engine": value["engine"],
        "docker_run": MetadataValue.text(shell_join(docker_run_argv(
            render_container_spec(deployment, vllm_image["image_ref"], model_weights["path"], hash_)))),
    })
