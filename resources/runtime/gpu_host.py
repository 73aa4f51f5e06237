"""Which host a deployment occupies: the value of the ``gpu_host`` run tag.

The run queue admits one run per distinct ``gpu_host`` (see pipelines/instance.py), so two
deployments never share a host's GPUs, while deployments on different hosts run in parallel.
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlparse

from resources.config.models import Deployment


def gpu_host(deployment: Deployment) -> str:
    runtime = deployment.runtime
    if runtime.kind == "external":
        return urlparse(runtime.base_url).hostname or runtime.base_url
    if runtime.kind == "docker":
        engine = runtime.docker.engine or os.environ.get("DOCKER_HOST")
        if engine and not engine.startswith("unix://"):
            return urlparse(engine).hostname or engine
    return socket.gethostname()
