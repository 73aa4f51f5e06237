"""The ``external`` runtime: an OpenAI-compatible endpoint the user already runs.

The pipeline starts and stops nothing here; it records what answers at the address (vLLM's
``/version``, the models listed) and checks ``/health`` before smoke-testing and benchmarking.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request


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
    from resources.runtime.process import is_healthy

    if not is_healthy(base_url, timeout):
        raise EndpointUnavailable(
            f"the external endpoint {base_url} does not answer GET /health; start it (this runtime never "
            "does), or fix runtime.base_url"
        )


def describe_endpoint(base_url: str, api_key: str | None = None, timeout: float = 5.0) -> dict:
    """What serves at ``base_url``: the identity a result row records for an external endpoint."""
    check_endpoint(base_url, timeout)
    version = (_get_json(f"{base_url}/version", None, timeout) or {}).get("version") or "unknown"
    models = [m.get("id") for m in (_get_json(f"{base_url}/v1/models", api_key, timeout) or {}).get("data", [])]
    return {
        "runtime": "external",
        "image_ref": f"external:{base_url}",
        # Nothing pins an endpoint someone else runs: the version it reports is the best identity.
        "image_digest": f"external:{base_url};vllm=={version}",
        "vllm_version": version,
        "models": models,
    }
