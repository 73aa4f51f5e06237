"""The hardware capture as it runs inside a capture container on a GPU host's Docker Engine.

    python3 -m resources.hardware.container_capture --weights-dir /srv/models [--replay FILE]

The container sees the host's root read-only at ``/host`` and shares its UTS namespace (so its
host name is the host's); ``/proc/meminfo`` and the CPU count are the host's already. It asks
NVML through the driver that the NVIDIA container runtime mounts into a container started with
GPUs, records every answer, and prints one JSON document: the recording, the host facts and the
model's config.json when the weights are on the host already, which
the orchestrator replays into the report (``ReplayNvml``), exactly as it replays the fixtures.

Needs only the standard library, nvidia-ml-py and the three hardware modules it is copied with.
``--replay FILE`` answers NVML from an earlier recording instead of the driver: a host without
a GPU then reports the recorded GPUs, with its own memory, disks and name.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from resources.hardware.host_facts import read_host_facts
from resources.hardware.nvml_source import RecordingNvml, ReplayNvml
from resources.hardware.report import collect_hardware_report

HOST_ROOT = Path("/host")
RESULT_MARKER = "vllm-eval-capture:"


def capture_on_this_host(
    weights_dir: str, host_root: Path = HOST_ROOT, replay: Path | None = None, model_dir: str | None = None
) -> dict:
    inner = ReplayNvml(json.loads(replay.read_text())) if replay else None
    nvml = RecordingNvml(inner)
    host = read_host_facts(host_root / weights_dir.lstrip("/"), shm=host_root / "dev" / "shm")
    host = replace(host, weights_dir=weights_dir)  # the path as the host names it, not as mounted here
    collect_hardware_report(nvml=nvml, host=host)  # asks NVML every query the report needs
    return {
        **nvml.recording(),
        "host_facts": host.as_dict(),
        "model_config": _model_config(host_root, model_dir) if model_dir else None,
    }


def _model_config(host_root: Path, model_dir: str) -> dict | None:
    """The model's config.json on this host: the weights are there already, and it gives the
    context length vLLM would derive. None when the folder holds no readable config.json."""
    try:
        return json.loads((host_root / model_dir.lstrip("/") / "config.json").read_text())
    except (OSError, ValueError):
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights-dir", required=True, help="where the weights land, as the host names it")
    parser.add_argument("--host-root", type=Path, default=HOST_ROOT)
    parser.add_argument("--replay", type=Path, default=None, help="an NVML recording to answer from")
    parser.add_argument("--model-dir", default=None, help="the model's folder on the host, if already there")
    args = parser.parse_args(argv)
    recording = capture_on_this_host(args.weights_dir, args.host_root, args.replay, args.model_dir)
    print(RESULT_MARKER + json.dumps(recording, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
