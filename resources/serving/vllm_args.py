"""Renders a deployment into ``vllm serve`` arguments and a hash that identifies them.

Pure functions: the same deployment always gives the same arguments and the same hash, which
is how a replay proves it ran the same server and how a running server is recognised for reuse.
"""

from __future__ import annotations

import hashlib
import json

from resources.config.models import Deployment


def render_serve_args(deployment: Deployment, model_path: str, port: int | None = None) -> list[str]:
    """The arguments after ``vllm serve``; the API key is passed by environment, never here."""
    params = deployment.params
    runtime = deployment.runtime
    args = [
        model_path,
        "--served-model-name",
        deployment.served_model_name,
        "--host",
        runtime.host,
        "--port",
        str(port or runtime.port),
        "--dtype",
        params.dtype,
    ]
    if params.max_model_len is not None:
        args += ["--max-model-len", str(params.max_model_len)]
    if params.tensor_parallel_size != 1:
        args += ["--tensor-parallel-size", str(params.tensor_parallel_size)]
    if params.gpu_memory_utilization is not None:
        args += ["--gpu-memory-utilization", f"{params.gpu_memory_utilization:g}"]
    if params.kv_cache_dtype != "auto":
        args += ["--kv-cache-dtype", params.kv_cache_dtype]
    if params.kv_cache_memory_bytes is not None:
        args += ["--kv-cache-memory-bytes", params.kv_cache_memory_bytes]
    if params.enforce_eager:
        args.append("--enforce-eager")
    if params.enable_prefix_caching is True:
        args.append("--enable-prefix-caching")
    elif params.enable_prefix_caching is False:
        args.append("--no-enable-prefix-caching")
    if params.max_num_seqs is not None:
        args += ["--max-num-seqs", str(params.max_num_seqs)]
    if params.max_num_batched_tokens is not None:
        args += ["--max-num-batched-tokens", str(params.max_num_batched_tokens)]
    if params.enable_chunked_prefill is True:
        args.append("--enable-chunked-prefill")
    elif params.enable_chunked_prefill is False:
        args.append("--no-enable-chunked-prefill")
    if params.trust_remote_code:
        args.append("--trust-remote-code")
    args += list(params.extra_args)
    return args


def config_hash(deployment: Deployment, weights_identity: str, image_identity: str) -> str:
    """Identifies a server: same hash, same weights, image and arguments.

    The model path is left out of the arguments hashed (it depends on where EVAL_HOME is);
    the weights are identified by their revision or content hash instead.
    """
    payload = {
        "serve_args": render_serve_args(deployment, "<model>"),
        "weights": weights_identity,
        "image": image_identity,
        "runtime": deployment.runtime.model_dump(mode="json", exclude={"startup_timeout_s", "teardown"}),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]
