"""Where vLLM runs for a deployment: one ``Runtime`` per kind, chosen once from the deployment."""

from __future__ import annotations

from pathlib import Path

from resources.config.models import Deployment
from resources.runtime.base import Runtime


def runtime_for(deployment: Deployment, config_root: Path | None = None) -> Runtime:
    """The runtime the deployment's ``runtime.kind`` names (process, docker or external)."""
    kind = deployment.runtime.kind
    if kind == "process":
        from resources.runtime.process import ProcessRuntime as chosen
    elif kind == "docker":
        from resources.runtime.docker.runtime import DockerRuntime as chosen
    elif kind == "external":
        from resources.runtime.external import ExternalRuntime as chosen
    else:  # the config model admits only the kinds above; a new kind needs its class here
        raise ValueError(f"runtime kind '{kind}' has no implementation")
    return chosen(deployment, config_root)
