"""A configs/ folder written by a test: one generated model ``tiny``, one parameter set ``cpu`` and
one deployment file, so a test can load exactly the config it is about."""

from __future__ import annotations

from pathlib import Path

import yaml

CPU_PARAMS = {"dtype": "float32", "kv_cache_memory_bytes": "512M", "enforce_eager": True}


def write_config_tree(
    root: Path, deployment: dict, params: dict | None = None, model: dict | None = None, name: str = "d"
) -> Path:
    for folder in ("deployments", "models", "params"):
        (root / folder).mkdir()
    (root / "models" / "tiny.yaml").write_text(yaml.safe_dump(model or {"source": "generated"}))
    (root / "params" / "cpu.yaml").write_text(yaml.safe_dump(params or CPU_PARAMS))
    (root / "deployments" / f"{name}.yaml").write_text(yaml.safe_dump(deployment))
    return root
