"""The ``external`` runtime: an OpenAI-compatible endpoint the user already runs.

The pipeline starts and stops nothing here; it records what answers at the address (vLLM's
``/version``, the models listed) and checks ``/health`` before smoke-testing and benchmarking.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

from resources.runtime.base import Log, Runtime, _quiet
from resources.runtime.values import ImageInfo, ServiceInfo
from resources.serving.health import is_healthy


class EndpointUnavailable(RuntimeError):
    """The endpoint does not answer; the message names the address."""


def _get_json(url: str, api_key: str | None, timeout: float) -> dict | None:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {api_key}"} if api_key else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read() or b"null")
    except (urllib.error.URLError, OSError, ValueError):
        return None


def check_endpoint(base_url: str, timeout: float = 5.0) -> None:
    if not is_healthy(base_url, timeout):
        raise EndpointUnavailable(
            f"the external endpoint {base_url} does not answer GET /health; start it (this runtime never "
            "does), or fix runtime.base_url"
        )


def describe_endpoint(base_url: str, api_key: str | None = None, timeout: float = 5.0) -> ImageInfo:
    """What serves at ``base_url``: the identity a result row records for an external endpoint."""
    check_endpoint(base_url, timeout)
    version = (_get_json(f"{base_url}/version", None, timeout) or {}).get("version") or "unknown"
    models = [m.get("id") for m in (_get_json(f"{base_url}/v1/models", api_key, timeout) or {}).get("data", [])]
    # Nothing pins an endpoint someone else runs: the version it reports is the best identity.
    return ImageInfo(
        runtime="external",
        image_ref=f"external:{base_url}",
        image_digest=f"external:{base_url};vllm=={version}",
        vllm_version=version,
        details={"models": models},
    )


class ExternalRuntime(Runtime):
    kind = "external"

    def prepare_image(self, on_line: Log = _quiet) -> ImageInfo:
        return describe_endpoint(self.deployment.runtime.base_url, self.deployment.runtime.api_key())

    def ensure_service(
        self,
        image: ImageInfo,
        weights_path: str,
        config_hash: str,
        on_progress: Log = _quiet,
        cold_start: bool = False,
        weights_volume: str | None = None,
    ) -> ServiceInfo:
        base_url = self.deployment.runtime.base_url
        check_endpoint(base_url)
        on_progress(f"external endpoint {base_url} answers /health; the pipeline does not start or stop it")
        return ServiceInfo(
            base_url=base_url,
            served_model_name=self.deployment.served_model_name,
            config_hash=config_hash,
            serve_args=(),
            command=(),
            startup_s=None,
            reused=True,
            log_path="",
        )

    def run_benchmark(
        self,
        service: ServiceInfo,
        bench_args: list[str],
        result_path: Path,
        on_line: Log = _quiet,
        env: dict[str, str] | None = None,
        context=None,
    ) -> dict:
        from resources.benchmark.runner import run_bench_serve

        return run_bench_serve(bench_args, result_path, env=env, on_line=on_line)

    def gpu_host(self) -> str:
        base_url = self.deployment.runtime.base_url
        return urlparse(base_url).hostname or base_url

    def plan(self) -> str:
        return (
            f"# plan for '{self.deployment.key}': runtime external; no docker command runs.\n"
            f"# the pipeline checks {self.deployment.runtime.base_url}/health and benchmarks it with the local "
            "vLLM\n"
        )
