"""One interface for everything that can run vLLM for a deployment.

A runtime is chosen once from the deployment (``runtime_for``) and answers every question the
assets, the schedule and the command line ask about where vLLM runs: which image serves, start
or reuse the server, run ``vllm bench serve`` beside it, stop it, which host it occupies and
which processes there are its own. Adding a runtime (a Kubernetes pod, say) is one class.
"""

from __future__ import annotations

import socket
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Callable

from resources.config.models import Deployment
from resources.runtime.values import HardwareCapture, ImageInfo, ServiceInfo

Log = Callable[[str], None]


def _quiet(message: str) -> None:
    pass


class Runtime(ABC):
    kind: str

    def __init__(self, deployment: Deployment, config_root: Path | None = None):
        from resources.config.loader import config_dir

        self.deployment = deployment
        self.config_root = Path(config_root) if config_root else config_dir()

    @abstractmethod
    def prepare_image(self, on_line: Log = _quiet) -> ImageInfo:
        """What will serve, with the exact identity a replay must reproduce."""

    def place_weights(self, image: ImageInfo, on_line: Log = _quiet):
        """The deployment's ``Weights`` where its server will read them, at their pinned identity.
        Here: on this machine (generated, found in a local folder, or downloaded into the Hugging
        Face cache); ``image`` is what will serve, for runtimes that place them with it."""
        from resources.weights.fetch import fetch_weights

        return fetch_weights(self.deployment.model_name, self.deployment.model, on_progress=on_line)

    @abstractmethod
    def ensure_service(
        self,
        image: ImageInfo,
        weights_path: str,
        config_hash: str,
        on_progress: Log = _quiet,
        cold_start: bool = False,
        weights_volume: str | None = None,
    ) -> ServiceInfo:
        """A healthy server: the running one when it serves ``config_hash``, else a new one.
        ``cold_start``: never reuse, and start from an empty compile cache. ``weights_volume``: the
        named volume on the serving host that holds the weights (``place_weights`` put them there),
        mounted instead of ``weights_path``."""

    @abstractmethod
    def run_benchmark(
        self,
        service: ServiceInfo,
        bench_args: list[str],
        result_path: Path,
        on_line: Log = _quiet,
        env: dict[str, str] | None = None,
        context=None,
    ) -> dict:
        """The JSON ``vllm bench serve --save-result`` wrote for one load point."""

    def stop(self) -> bool:
        """Stops the deployment's server; True if one ran. Runtimes that start nothing stop nothing."""
        return False

    def energy_meter(self):
        """An ``EnergyMeter`` on the serving GPUs when this host can read them, else None (energy n/a):
        a CPU build, an external endpoint, a remote engine."""
        return None

    def server_cpu_source(self, service: ServiceInfo):
        """What the server's CPU time is read from while a benchmark runs, for the contention
        figure: its process tree (a pid), a control group (``host_usage.Cgroup``), or None where
        this machine cannot see it (a remote host, an endpoint): contention is then not judged."""
        return service.pid

    def own_pids(self) -> list[int]:
        """Host pids of the deployment's running server, which the idle-GPU gate must not count as a
        stranger. Never raises: nothing found is an empty list."""
        return []

    def capture_hardware(self, on_line: Log = _quiet) -> HardwareCapture:
        """The host that will serve, measured there: its hardware report (GPUs, memory, swap,
        /dev/shm, free space where the weights land) and whether the weights are there. Here: this machine."""
        from resources.hardware.report import collect_hardware_report
        from resources.weights.fetch import cached_model_config, weights_landing_dir, weights_present_locally

        deployment = self.deployment
        return HardwareCapture(
            collect_hardware_report(weights_dir=weights_landing_dir(deployment)),
            weights_present=weights_present_locally(deployment.model_name, deployment.model),
            model_config=cached_model_config(deployment),
        )

    def gpu_host(self) -> str:
        """The host whose GPUs this deployment occupies: the value of the ``gpu_host`` run tag."""
        return socket.gethostname()

    @abstractmethod
    def plan(self) -> str:
        """What the runtime will run, as commands a user could type, without running anything."""
