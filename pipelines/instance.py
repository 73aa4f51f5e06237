"""The Dagster instance the project's commands use: ``DAGSTER_HOME`` under ``EVAL_HOME``."""

from __future__ import annotations

import os
import re
from pathlib import Path

import yaml

from pipelines.command_errors import CommandError
from resources.config.eval_home import dagster_home

# One run per GPU host at a time: runs carry a gpu_host tag and the queue admits one run per
# distinct value. Launches that bypass the queue are guarded by the runtime itself.
GPU_HOST_LIMIT = {"key": "gpu_host", "value": {"applyLimitPerUniqueValue": True}, "limit": 1}


def instance_config(max_concurrent_runs: int | None = None, **sections) -> dict:
    """The project's dagster.yaml as a dict: the one-run-per-GPU-host limit (and a cap on runs in
    all, if given), telemetry and the first-visit pop-up off, plus any other ``sections``."""
    runs: dict = {"tag_concurrency_limits": [GPU_HOST_LIMIT]}
    if max_concurrent_runs is not None:
        runs = {"max_concurrent_runs": max_concurrent_runs, **runs}
    return {"telemetry": {"enabled": False}, "nux": {"enabled": False}, **sections, "concurrency": {"runs": runs}}


DAGSTER_YAML = yaml.safe_dump(instance_config(), sort_keys=False)


def load_instance():
    """The instance at DAGSTER_HOME; ``CommandError`` where its dagster.yaml cannot load, e.g. the
    production profile (``fleet-up`` writes it) in a shell without the variable its storage reads."""
    from dagster import DagsterInstance, DagsterInvalidConfigError

    try:
        return DagsterInstance.get()
    except DagsterInvalidConfigError as exc:
        config = Path(os.environ["DAGSTER_HOME"]) / "dagster.yaml"
        unset = re.search(r'environment variable "(\w+)" which is not set', str(exc))
        if unset:
            raise CommandError(
                f"{config} reads ${unset.group(1)}, which is not set: export it to use that instance (fleet-up's "
                "production profile), or set DAGSTER_HOME to another folder for the embedded one"
            ) from None
        first_line = str(exc).splitlines()[0]
        raise CommandError(f"{config} does not load: {first_line}") from None


def ensure_dagster_home() -> Path:
    """Creates DAGSTER_HOME with the project's dagster.yaml if missing, and exports it."""
    home = dagster_home()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(DAGSTER_YAML)
    os.environ["DAGSTER_HOME"] = str(home)
    return home
