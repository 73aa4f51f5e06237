"""The Dagster instance the project's commands use: ``DAGSTER_HOME`` under ``EVAL_HOME``."""

from __future__ import annotations

import os
from pathlib import Path

from resources.config.eval_home import dagster_home

# One run per GPU host at a time: runs carry a gpu_host tag and the queue admits one run per
# distinct value. Launches that bypass the queue are guarded by the runtime itself.
DAGSTER_YAML = """\
telemetry:
  enabled: false
nux:
  enabled: false
concurrency:
  runs:
    tag_concurrency_limits:
      - key: gpu_host
        value:
          applyLimitPerUniqueValue: true
        limit: 1
"""


def ensure_dagster_home() -> Path:
    """Creates DAGSTER_HOME with the project's dagster.yaml if missing, and exports it."""
    home = dagster_home()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(DAGSTER_YAML)
    os.environ["DAGSTER_HOME"] = str(home)
    return home
