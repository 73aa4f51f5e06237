"""The ``docker`` runtime's two steps, as the assets call them: get the image, get a healthy service.

Each returns a plain dict (the asset's value) so the later steps and the results database see
the same fields whatever the runtime.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from resources.config.models import Deployment
from resources.config.docker import BuildImage
from resources.runtime.docker.container import find_reusable, service_base_url, start_container
from resources.runtime.docker.engine import connect, engine_address
from resources.runtime.docker.image import ensure_built, ensure_pulled, probe_vllm_version, vllm_version_from
from resources.runtime.docker.spec import container_name, docker_settings, render_container_spec


def prepare_image(deployment: Deployment, config_root: Path, on_line: Callable[[str], None] = print) -> dict:
    settings = docker_settings(deployment)
    address = engine_address(settings.engine)
    client = connect(settings.engine)
    try:
        if isinstance(settings.image, BuildImage):
            info = ensure_built(client, settings.image.build, config_root, on_line)
        else:
            info = ensure_pulled(client, settings.image.pull, on_line)
        version = vllm_version_from(info.ref, info.labels) or probe_vllm_version(
            client, info.ref, settings.python, list(settings.volumes), dict(deployment.runtime.env))
    finally:
        client.close()
    return {
        "runtime": "docker",
        "engine": address.url,
        "image_ref": info.ref,
        "image_digest": info.digest,
        "image_id": info.image_id,
        "vllm_version": version,
        "action": info.action,
        "seconds": round(info.seconds, 2),
        "context_hash": info.context_hash,
        "labels": info.labels,
    }


def ensure_service(deployment: Deployment, image: dict, weights_path: str, config_hash: str,
                   on_progress: Callable[[str], None] = print) -> tuple[dict, object, float | None]:
    """(the service's value, its start-up diagnosis, seconds to healthy or None when reused)."""
    from resources.serving.startup_diagnosis import diagnose

    settings = docker_settings(deployment)
    runtime = deployment.runtime
    spec = render_container_spec(deployment, image["image_ref"], weights_path, config_hash)
    base_url = service_base_url(engine_address(settings.engine).url, runtime.host, runtime.port)
    client = connect(settings.engine)
    try:
        container = find_reusable(client, deployment.key, config_hash, base_url)
        if container is not None:
            on_progress(f"reusing healthy container {container.name} at {base_url} (config {config_hash})")
            diagnosis, startup_s = diagnose(container.logs().decode(errors="replace")), None
        else:
            on_progress(f"starting container {spec.name}: vllm serve {' '.join(spec.serve_args)}")
            _, diagnosis, startup_s = start_container(client, spec, deployment.key, base_url,
                                                      runtime.startup_timeout_s, on_progress)
            on_progress(f"container healthy at {base_url} after {startup_s:.1f} s")
    finally:
        client.close()
    value = {
        "base_url": base_url,
        "served_model_name": deployment.served_model_name,
        "config_hash": config_hash,
        "serve_args": spec.serve_args,
        "startup_s": startup_s,
        "reused": startup_s is None,
        "engine": engine_address(settings.engine).url,
        "container": container_name(deployment.key),
        "container_port": runtime.port,
        "image": image["image_ref"],
        "model_path": spec.model_path,
        "vllm_command": list(settings.vllm_command),
        "volumes": spec.volumes,
        "environment": spec.environment,  # from the config, so no secrets: those are in spec.secret_env
        "log_path": f"docker logs {spec.name}",
    }
    return value, diagnosis, startup_s
