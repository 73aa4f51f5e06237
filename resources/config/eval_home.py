"""Where the project keeps its data: ``EVAL_HOME`` (default ``.eval/`` in the project root).

Everything a run writes lives below it: the Dagster instance, ``results.duckdb``, generated
models, service state and logs, benchmark result files and reports. Deleting it starts afresh.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def project_pythonpath() -> str:
    """PYTHONPATH for a child process that runs this project's modules (``python -m resources...``)."""
    existing = os.environ.get("PYTHONPATH")
    return f"{PROJECT_ROOT}{os.pathsep}{existing}" if existing else str(PROJECT_ROOT)


def eval_home() -> Path:
    return Path(os.environ.get("EVAL_HOME") or PROJECT_ROOT / ".eval").resolve()


def results_db_path() -> Path:
    return eval_home() / "results.duckdb"


def models_dir() -> Path:
    return eval_home() / "models"


def services_dir() -> Path:
    return eval_home() / "services"


def bench_dir() -> Path:
    return eval_home() / "bench"


def reports_dir() -> Path:
    return eval_home() / "reports"


def dagster_home() -> Path:
    return Path(os.environ.get("DAGSTER_HOME") or eval_home() / "dagster").resolve()


def compile_cache_dir() -> Path:
    """vLLM's compile caches (VLLM_CACHE_ROOT) of the process runtime, one folder per deployment."""
    return eval_home() / "vllm-cache"
