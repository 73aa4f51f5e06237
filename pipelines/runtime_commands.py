"""``python -m pipelines plan`` and ``python -m pipelines diagnose``: read-only views of a deployment."""

from __future__ import annotations

import sys
from pathlib import Path


def print_plan(partition: str) -> int:
    from resources.config.loader import ConfigError, load_deployments
    from resources.runtime import runtime_for

    try:
        deployments = load_deployments()
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    if partition not in deployments:
        print(f"no deployment '{partition}'; available: {', '.join(deployments)}", file=sys.stderr)
        return 2
    from resources.config.pins import plan_lines

    deployment = deployments[partition]
    print("".join(f"{line}\n" for line in plan_lines(deployment)) + runtime_for(deployment).plan(), end="")
    return 0


def print_diagnosis(logfile: Path) -> int:
    """Exit 0 when the log shows a server that became ready, 1 when it shows a failed start."""
    from resources.serving.startup_diagnosis import diagnose, format_diagnosis

    try:
        text = logfile.read_text(errors="replace")
    except OSError as exc:
        print(f"cannot read {logfile}: {exc}", file=sys.stderr)
        return 2
    diagnosis = diagnose(text)
    tail = [line for line in text.splitlines() if line.strip()][-10:]
    print(format_diagnosis(diagnosis, tail if not diagnosis.is_ready or diagnosis.cause else None, str(logfile)))
    return 0 if diagnosis.is_ready and not diagnosis.cause else 1
