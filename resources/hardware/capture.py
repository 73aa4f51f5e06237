"""Capture this host's hardware report together with the raw facts it was built from.

    python -m resources.hardware.capture OUTDIR [--weights-dir PATH]

writes OUTDIR/nvml_recording.json (every NVML answer and error the report used, plus the
host facts), OUTDIR/report.json, OUTDIR/report.md and OUTDIR/timing.json. Replaying the
recording through ReplayNvml gives the same report: that is how the tests check the
report code against real GPU hosts without one.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from importlib import metadata
from pathlib import Path

from resources.hardware.host_facts import read_host_facts
from resources.hardware.nvml_source import RecordingNvml
from resources.hardware.report import collect_hardware_report


def capture(outdir: Path, weights_dir: Path | None = None) -> dict[str, float]:
    outdir.mkdir(parents=True, exist_ok=True)
    nvml = RecordingNvml()
    started = time.perf_counter()
    host = read_host_facts(weights_dir)
    report = collect_hardware_report(nvml=nvml, host=host)
    collect_seconds = time.perf_counter() - started
    recording = {**nvml.recording(), "host_facts": host.as_dict()}
    timing = {
        "collect_seconds": round(collect_seconds, 4),
        "nvml_calls": len(nvml.calls),
        "gpus": len(report.gpus),
        "python": platform.python_version(),
        "nvidia_ml_py": _version_of("nvidia-ml-py"),
    }
    _write_json(outdir / "nvml_recording.json", recording)
    _write_json(outdir / "report.json", report.as_dict())
    (outdir / "report.md").write_text(report.to_markdown())
    _write_json(outdir / "timing.json", timing)
    return timing


def _version_of(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "unknown"


def _write_json(path: Path, data: object) -> None:
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outdir", type=Path)
    parser.add_argument(
        "--weights-dir", type=Path, default=None, help="where model weights go (default: the Hugging Face hub cache)"
    )
    args = parser.parse_args(argv)
    timing = capture(args.outdir, args.weights_dir)
    print((args.outdir / "report.md").read_text())
    print(json.dumps(timing))
    return 0


if __name__ == "__main__":
    sys.exit(main())
