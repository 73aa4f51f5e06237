"""The hardware code imports and reports under an old and a recent nvidia-ml-py.

GPU hosts ship whatever nvidia-ml-py their image had; an H200 image's release lacked
``nvmlClocksThrottleReasonBoardLimit``, and the hardware report failed at import there. Each
release runs in its own interpreter (pynvml is one module, imported once per process) and
replays a real H200 recording through the report.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OLD_RELEASE = ROOT / "tests" / "fixtures" / "nvml_py" / "nvidia-ml-py-11.495.46"
RECORDING = ROOT / "tests" / "fixtures" / "nvml" / "h200_x2" / "nvml_recording.json"

REPLAY = f"""
import json, pynvml
from resources.hardware import capture
from resources.hardware.host_facts import HostFacts
from resources.hardware.nvml_constants import CLOCK_EVENT_REASONS
from resources.hardware.nvml_source import ReplayNvml
from resources.hardware.report import collect_hardware_report
recording = json.load(open({str(RECORDING)!r}))
report = collect_hardware_report(nvml=ReplayNvml(recording), host=HostFacts.from_dict(recording["host_facts"]))
print(json.dumps({{"pynvml": pynvml.__file__, "has_board_limit": hasattr(pynvml, "nvmlClocksThrottleReasonBoardLimit"),
                  "reasons": sorted(CLOCK_EVENT_REASONS.values()), "report": report.as_dict(),
                  "gpus": [g.name for g in report.gpus]}}))
"""


def _replay_with(first_on_path: list[Path]) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(p) for p in [*first_on_path, ROOT])}
    done = subprocess.run(
        [sys.executable, "-c", REPLAY], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def recorded_report() -> dict:
    return json.loads((RECORDING.parent / "report.json").read_text())


def test_an_old_nvidia_ml_py_without_the_newer_names_still_imports_and_reports(recorded_report):
    result = _replay_with([OLD_RELEASE])
    assert result["pynvml"].startswith(str(OLD_RELEASE))
    assert result["has_board_limit"] is False
    # Every clock reason keeps its name: the bits come from nvml.h where the release lacks them.
    assert {"board_limit", "reliability", "gpu_idle"} <= set(result["reasons"])
    assert len(result["reasons"]) == 11
    assert result["report"] == recorded_report
    assert result["gpus"] == ["NVIDIA H200", "NVIDIA H200"]


def test_the_environments_recent_nvidia_ml_py_gives_the_same_report(recorded_report):
    result = _replay_with([])
    assert result["has_board_limit"] is True
    assert len(result["reasons"]) == 11
    assert result["report"] == recorded_report
