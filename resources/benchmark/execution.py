"""Runs a benchmark wherever the deployment's server runs, and tears the server down after.

``benchmark_results`` renders ``vllm bench serve`` arguments as seen from this machine; this is
the one place that knows the runtimes: the local ``vllm`` for ``process`` and ``external``, the
service's own image for ``docker`` (see ``docker_bench``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from resources.benchmark.runner import run_bench_serve
from resources.config.models import Deployment


def run_benchmark(
    deployment: Deployment,
    service: dict,
    bench_args: list[str],
    result_path: Path,
    on_line: Callable[[str], None] = lambda line: None,
    env: dict[str, str] | None = None,
    context=None,
) -> dict:
    """The saved ``vllm bench serve`` result (its JSON) for one scenario."""
    kind = deployment.runtime.kind
    if kind in ("process", "external"):
        return run_bench_serve(bench_args, result_path, env=env, on_line=on_line)
    if kind == "docker":
        from resources.runtime.docker.bench import bench_client_container, bench_exec
        from resources.runtime.docker.engine import connect

        client = connect(service.get("engine"))
        try:
            if deployment.runtime.docker.bench == "client":
                if context is None:
                    raise ValueError("bench: client runs through dagster-docker's PipesDockerClient and needs "
                                     "the step's context")
                result, command = bench_client_container(context, client, service, bench_args, result_path,
                                                         env, on_line)
            else:
                result, command = bench_exec(client, service, bench_args, result_path, env, on_line)
        finally:
            client.close()
        on_line(f"ran in {deployment.runtime.docker.bench} mode: {' '.join(command)}")
        return result
    raise ValueError(f"runtime kind '{kind}' cannot run a benchmark")


def stop_runtime(deployment: Deployment) -> bool:
    """Stops the deployment's server (teardown: stop). An external endpoint is never stopped."""
    kind = deployment.runtime.kind
    if kind == "process":
        from resources.runtime.process import stop_service

        return stop_service(deployment.key)
    if kind == "docker":
        from resources.runtime.docker.container import stop_partition

        return stop_partition(deployment.runtime.docker.engine, deployment.key)
    return False
