"""The hardware report of a Docker Engine's host, read there by a short-lived capture container.

Which image runs it: the deployment's own pinned vLLM image (``runtime.docker.image.pull``, or
the ``BASE_IMAGE`` build argument of a built one), or ``runtime.docker.capture_image`` when set.
It is the image the deployment pulls anyway, so the capture adds no download and no image to
pin, and it has Python. When the engine lacks it, it is pulled first (a pinned tag, as
``vllm_image`` would pull it). The capture's code (three modules of ``resources/hardware`` and
nvidia-ml-py's single-file ``pynvml``, from this installation) is copied into the created
container before it starts, so neither the image's own nvidia-ml-py nor its vLLM matters.

The container asks for the deployment's GPUs (the NVIDIA container runtime then mounts the
driver's NVML into it), has no network, sees the host's root read-only at ``/host`` for the
disk and ``/dev/shm``, shares the host's UTS namespace for its name, and is removed afterwards.
"""

from __future__ import annotations

import io
import tarfile
import time
from pathlib import Path

from resources.config.docker import BuildImage
from resources.config.models import Deployment
from resources.hardware.host_facts import HostFacts
from resources.hardware.nvml_source import ReplayNvml
from resources.hardware.report import HardwareReport, collect_hardware_report
from resources.runtime.docker.one_shot import marked_result, removed_afterwards, wait_finished
from resources.runtime.docker.spec import LABEL_PREFIX, device_requests, docker_settings

CAPTURE_DIR = "/opt/vllm-eval-capture"
REPLAY_PATH = "/opt/vllm-eval-capture/nvml_recording.json"
_PROJECT = Path(__file__).resolve().parents[3]


def _capture_files():
    """What travels into the capture container: the hardware package (it imports nothing else of
    the project; a test keeps it so) and the package marker above it."""
    yield _PROJECT / "resources" / "__init__.py"
    yield from sorted((_PROJECT / "resources" / "hardware").glob("*.py"))


class CaptureError(RuntimeError):
    """The capture container did not produce a report; the message names the engine and the cause."""


def capture_image(deployment: Deployment) -> str:
    """The image the capture runs in (see the module docstring)."""
    settings = docker_settings(deployment)
    if settings.capture_image:
        return settings.capture_image
    if isinstance(settings.image, BuildImage):
        base = settings.image.build.args.get("BASE_IMAGE")
        if not base:
            raise CaptureError(
                f"deployment '{deployment.key}' builds its image without a BASE_IMAGE build argument, so the "
                "hardware capture has no image to run in: set runtime.docker.capture_image to a pinned image "
                "with python3 (e.g. the vllm/vllm-openai release the Dockerfile starts FROM)"
            )
        return base
    return settings.image.pull


def engine_weights_dir(deployment: Deployment, docker_root: str | None = None) -> str:
    """The folder whose disk the weights fill on the engine's host: the engine's volumes folder when
    they go into a named volume there (``docker_root``: the engine's DockerRootDir), else the model
    folder named by ``weights_path`` (its nearest existing parent is measured), else the same folder as here."""
    from resources.runtime.docker.weights_volume import uses_weights_volume
    from resources.weights.fetch import weights_landing_dir

    if uses_weights_volume(deployment):
        return f"{docker_root or '<the engine DockerRootDir>'}/volumes"
    return docker_settings(deployment).weights_path or str(weights_landing_dir(deployment))


def engine_model_dir(deployment: Deployment) -> str:
    """The model's folder on the engine's host, the one the service container mounts."""
    from resources.weights.fetch import planned_weights_path

    return docker_settings(deployment).weights_path or planned_weights_path(deployment)


def capture_container_kwargs(
    deployment: Deployment, image: str, weights_dir: str, replay_file: str | None = None
) -> dict:
    """``client.containers.create`` arguments of the capture container (pure, so tests can read them).

    ``replay_file``: a recording on the engine's host, mounted and answered from instead of NVML."""
    settings = docker_settings(deployment)
    gpus = settings.gpus if deployment.needs_gpu else None
    volumes = {"/": {"bind": "/host", "mode": "ro"}}
    for volume in settings.volumes:  # e.g. an interpreter the image runs from a bind mount
        host, container, *mode = volume.split(":")
        volumes[host] = {"bind": container, "mode": mode[0] if mode else "rw"}
    command = [
        settings.python,
        "-m",
        "resources.hardware.container_capture",
        "--weights-dir",
        weights_dir,
        "--model-dir",
        engine_model_dir(deployment),
    ]
    if replay_file:
        volumes[replay_file] = {"bind": REPLAY_PATH, "mode": "ro"}
        command += ["--replay", REPLAY_PATH]
    return {
        "image": image,
        "command": command,
        "entrypoint": [],
        "environment": {"PYTHONPATH": CAPTURE_DIR, "PYTHONDONTWRITEBYTECODE": "1"},
        "volumes": volumes,
        "device_requests": device_requests(gpus),
        "network_mode": "none",
        "uts_mode": "host",
        "labels": {f"{LABEL_PREFIX}hardware-capture-of": deployment.key},
        "name": f"vllm-eval-capture-{deployment.key}-{int(time.time() * 1000) % 10**9}",
    }


def capture_code_archive() -> bytes:
    """A tar of the capture's code at ``/opt/vllm-eval-capture``, its ``PYTHONPATH``."""
    import pynvml

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for module in _capture_files():
            tar.add(module, arcname=f"{CAPTURE_DIR.lstrip('/')}/{module.relative_to(_PROJECT)}")
        tar.add(pynvml.__file__, arcname=f"{CAPTURE_DIR.lstrip('/')}/pynvml.py")
    return buffer.getvalue()


def run_capture(client, kwargs: dict, timeout_s: float = 120) -> dict:
    """Runs the capture container to completion and returns its recording; always removes it."""
    import docker.errors

    try:
        container = client.containers.create(**kwargs)
    except docker.errors.APIError as exc:
        raise CaptureError(
            f"the hardware capture container could not be created from {kwargs['image']}: {exc.explanation or exc}"
        ) from None
    with removed_afterwards(container):
        container.put_archive("/", capture_code_archive())
        try:
            container.start()
        except docker.errors.APIError as exc:
            raise CaptureError(
                f"the hardware capture container did not start: {exc.explanation or exc} "
                "(a GPU request fails on an engine without the NVIDIA container runtime)"
            ) from None
        finished = wait_finished(container, timeout_s)
        if finished.failed:
            raise CaptureError(
                f"the hardware capture in {kwargs['image']} exited with {finished.status_code}: "
                f"{' | '.join(finished.err_lines[-5:]) or finished.out[-500:]}"
            )
    from resources.hardware.container_capture import RESULT_MARKER

    recording = marked_result(finished.out, RESULT_MARKER)
    if recording is None:
        raise CaptureError(f"the hardware capture printed no result; its output ended: {finished.out[-500:]}")
    return recording


def report_from_recording(recording: dict, engine: str) -> HardwareReport:
    """The report the capture saw, rebuilt here by replaying its NVML answers."""
    host = HostFacts.from_dict({**recording["host_facts"], "engine": engine})
    return collect_hardware_report(nvml=ReplayNvml(recording), host=host)


def capture_from_recording(recording: dict, engine: str):
    from resources.runtime.values import HardwareCapture

    config = recording.get("model_config")
    return HardwareCapture(
        report_from_recording(recording, engine), weights_present=config is not None, model_config=config
    )
