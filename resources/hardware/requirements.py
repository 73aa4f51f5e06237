"""What a deployment asks of its host, in the terms of the pre-flight gates (pure)."""

from __future__ import annotations

import os
from typing import Mapping

from resources.config.models import Deployment
from resources.hardware.gates import GateRequirements


def pinned_gpu_ids(deployment: Deployment, environ: Mapping[str, str] = os.environ) -> list[int] | None:
    """The GPUs (NVML indices) the deployment is pinned to, or None when it takes the first ones.

    docker: ``runtime.docker.gpus``; process: ``CUDA_VISIBLE_DEVICES`` from ``runtime.env``, else
    from the environment the server inherits. UUIDs or MIG names cannot be matched to an index:
    then None, the first ``tensor_parallel_size`` GPUs.
    """
    if not deployment.needs_gpu:
        return None
    runtime = deployment.runtime
    if runtime.kind == "docker":
        gpus = runtime.docker.gpus
        return None if gpus == "all" else list(gpus)
    if runtime.kind == "process":
        visible = runtime.env.get("CUDA_VISIBLE_DEVICES", environ.get("CUDA_VISIBLE_DEVICES"))
        if visible is None:
            return None
        parts = [p.strip() for p in visible.split(",") if p.strip()]
        return [int(p) for p in parts] if parts and all(p.isdigit() for p in parts) else None
    return None


def used_gpu_ids(deployment: Deployment, environ: Mapping[str, str] = os.environ) -> list[int]:
    """The GPUs the deployment's server will occupy: the pinned ones, else the first TP ones."""
    if not deployment.needs_gpu:
        return []
    pinned = pinned_gpu_ids(deployment, environ)
    return pinned if pinned is not None else list(range(deployment.params.tensor_parallel_size))


def model_max_len(model_config: dict | None) -> int | None:
    """The context length vLLM derives when max_model_len is not set: max_position_embeddings
    of the model's config.json (or of its text_config, for multimodal checkpoints)."""
    if not model_config:
        return None
    for config in (model_config, model_config.get("text_config") or {}):
        value = config.get("max_position_embeddings")
        if isinstance(value, int) and value > 0:
            return value
    return None


def gate_requirements(
    deployment: Deployment,
    weights_present: bool,
    model_config: dict | None = None,
    environ: Mapping[str, str] = os.environ,
) -> GateRequirements:
    """``model_config``: the model's config.json when it is at hand (None: not downloaded yet)."""
    model, params = deployment.model, deployment.params
    return GateRequirements(
        weights_bytes=model.weights_bytes or 0,
        kv_bytes_per_token=model.kv_bytes_per_token or 0,
        max_model_len=params.max_model_len or model_max_len(model_config),
        tensor_parallel_size=params.tensor_parallel_size,
        gpu_memory_utilization=params.gpu_memory_utilization or 0.90,
        gpu_ids=pinned_gpu_ids(deployment, environ),
        kv_heads=model.kv_heads,
        requires_gpu=deployment.needs_gpu,
        weights_already_present=weights_present,
        params_file=f"configs/params/{deployment.params_name}.yaml",
    )
