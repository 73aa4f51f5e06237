"""Builds the ``runs`` row and the result rows of one benchmark run (pure)."""

from __future__ import annotations

import json
from datetime import datetime

from resources.benchmark.command import LoadPoint
from resources.config.models import Deployment
from resources.hardware.requirements import used_gpu_ids
from resources.hardware.snapshot import HardwareSnapshot
from resources.results.cost import price_per_hour
from resources.runtime.values import ImageInfo, ServiceInfo
from resources.weights.fetch import Weights


def hardware_model(deployment: Deployment, hardware: HardwareSnapshot) -> str:
    """The regression baselines' key: comparable hosts, whatever driver or image they run."""
    used = hardware.gpus_used(used_gpu_ids(deployment))
    cpu_model = (hardware.facts.get("host") or {}).get("cpu_model")
    return f"{len(used)} x {used[0]['name']}" if used else f"cpu: {cpu_model or 'unknown'}"


def run_row(
    *,
    run_id: str,
    deployment: Deployment,
    started_at: datetime,
    finished_at: datetime,
    status: str,
    git_sha: str,
    hardware: HardwareSnapshot,
    image: ImageInfo,
    weights: Weights,
    service: ServiceInfo,
) -> dict:
    """Everything that identifies what produced the run's numbers."""
    used = hardware.gpus_used(used_gpu_ids(deployment))
    return {
        "run_id": run_id,
        "partition": deployment.key,
        "started_at": started_at,
        "finished_at": finished_at,
        "status": status,
        "git_sha": git_sha,
        "model_id": weights.model_id,
        "weights_source": weights.source,
        "weights_revision": weights.revision,
        "image_ref": image.image_ref,
        "image_digest": image.image_digest,
        "vllm_version": image.vllm_version,
        "hardware_fingerprint": hardware.fingerprint,
        "config_hash": service.config_hash,
        "serve_args": " ".join(service.serve_args),
        "startup_s": service.startup_s,
        "service_reused": service.reused,
        "origin": "pipeline",
        # The phases of this run's own start; a reused server's start belongs to an earlier run.
        "startup_phases": None if service.reused else json.dumps(service.phase_durations, sort_keys=True),
        "compile_cache": None if service.reused else service.compile_cache,
        "cold_start": service.cold_start,
        "kv_cache_tokens": service.kv_cache_tokens,
        "max_concurrency_capacity": service.max_concurrency,
        "tensor_parallel_size": deployment.params.tensor_parallel_size,
        "gpu_count": len(used) if deployment.needs_gpu else 0,
        "gpu_model": used[0]["name"] if used else None,
        "driver_version": hardware.driver_version,
        "active_params_b": deployment.model.active_params_b,
        "bytes_per_param": deployment.model.bytes_per_param,
        "trust_remote_code": deployment.params.trust_remote_code,
        "device": deployment.runtime.device,
        "hardware_model": hardware_model(deployment, hardware),
        "cuda_version": hardware.facts.get("cuda_driver_version"),
        # The price in force for this run: the history keeps what each result cost then.
        "price_per_hour_usd": price_per_hour(deployment.spec.cost, len(used) if deployment.needs_gpu else 0),
        "sweep": deployment.sweep,
        "sweep_settings": json.dumps(deployment.sweep_settings) if deployment.sweep else None,  # in the file's order
    }


def result_row(
    *,
    run_id: str,
    partition: str,
    point: LoadPoint,
    parsed: dict,
    seed: int,
    prefix_caching: bool | None,
    bench_args: list[str],
    result_file: str,
) -> dict:
    scenario = point.scenario
    return {
        "run_id": run_id,
        "partition": partition,
        "scenario": point.name,
        **parsed,
        "scenario_group": point.group,
        "num_prompts": scenario.num_prompts,
        "input_len": scenario.input_len,
        "output_len": scenario.output_len,
        "warmups": scenario.warmups,
        "seed": seed,
        "prefix_caching": {True: "on", False: "off", None: "server default"}[prefix_caching],
        "metric_definitions": "vllm",
        "bench_args": " ".join(bench_args),
        "result_file": result_file,
    }
