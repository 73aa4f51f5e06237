"""What a deployment asks of its host, in the terms of the pre-flight gates (pure)."""

from __future__ import annotations

from resources.config.models import Deployment
from resources.hardware.gates import GateRequirements


def gate_requirements(deployment: Deployment, weights_present: bool) -> GateRequirements:
    model, params = deployment.model, deployment.params
    return GateRequirements(
        weights_bytes=model.weights_bytes or 0,
        kv_bytes_per_token=model.kv_bytes_per_token or 0,
        max_model_len=params.max_model_len or 0,
        tensor_parallel_size=params.tensor_parallel_size,
        gpu_memory_utilization=params.gpu_memory_utilization or 0.90,
        kv_heads=model.kv_heads,
        requires_gpu=deployment.needs_gpu,
        weights_already_present=weights_present,
    )
