"""Reads ``configs/`` into validated deployments, with errors that name the file, field and fix."""

from __future__ import annotations

import os
import re
from pathlib import Path

import yaml
from pydantic import BaseModel, ValidationError

from resources.config.eval_home import PROJECT_ROOT
from resources.config.models import Deployment, DeploymentFile, ModelConfig, ParamSet

PARTITION_KEY = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")


class ConfigError(ValueError):
    """A config file is wrong; the message says which file, which field and what is allowed."""


def config_dir() -> Path:
    """``EVAL_CONFIG_DIR`` if set, else the project's ``configs/``."""
    return Path(os.environ.get("EVAL_CONFIG_DIR") or PROJECT_ROOT / "configs").resolve()


def _describe_errors(path: Path, error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        field = ".".join(str(part) for part in item["loc"]) or "(top level)"
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown field; remove it or check its spelling"
        elif item["type"] == "missing":
            message = "required field is missing"
        elif item["type"] == "literal_error":
            message = f"{message} (got {item.get('input')!r})"
        lines.append(f"  {field}: {message}")
    return f"{path}: invalid config\n" + "\n".join(lines)


def _read_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{path}: not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of fields at the top level, got {type(data).__name__}")
    return data


def _load(path: Path, model: type[BaseModel]):
    try:
        return model.model_validate(_read_yaml(path))
    except ValidationError as exc:
        raise ConfigError(_describe_errors(path, exc)) from None


def _named(folder: Path, name: str, model: type[BaseModel], referrer: Path, field: str):
    path = folder / f"{name}.yaml"
    if not path.exists():
        available = sorted(p.stem for p in folder.glob("*.yaml"))
        raise ConfigError(
            f"{referrer}: {field}: '{name}' not found; expected {path}. Available: {', '.join(available) or '(none)'}"
        )
    return _load(path, model)


def partition_key(path: Path) -> str:
    """A deployment file's partition key: its name, which must be a valid key."""
    if not PARTITION_KEY.match(path.stem):
        raise ConfigError(
            f"{path}: the file name is the partition key and must be lower-case letters, digits, "
            "'-', '_' or '.'; rename the file"
        )
    return path.stem


def deployment_files(root: Path | None = None) -> list[Path]:
    """Every deployment file under ``root/deployments``, in name order; only the folder is listed,
    no file is read (the partitions need no more when the code loads)."""
    folder = (root or config_dir()) / "deployments"
    if not folder.is_dir():
        raise ConfigError(f"{folder}: no deployments folder; set EVAL_CONFIG_DIR to a folder that has one")
    paths = sorted(folder.glob("*.yaml"))
    if not paths:
        raise ConfigError(f"{folder}: no deployment files (*.yaml); add one per model and parameter set")
    return paths


def load_deployment(path: Path, root: Path | None = None) -> Deployment:
    root = root or path.parent.parent
    key = partition_key(path)
    spec: DeploymentFile = _load(path, DeploymentFile)
    model = _named(root / "models", spec.model, ModelConfig, path, "model")
    params = _named(root / "params", spec.params, ParamSet, path, "params")
    try:
        return Deployment(
            key=key, model_name=spec.model, model=model, params_name=spec.params, params=params, spec=spec
        )
    except ValidationError as exc:
        raise ConfigError(_describe_errors(path, exc)) from None


def load_partition(key: str, root: Path | None = None) -> Deployment:
    """One partition's deployment, reading only its files (a mistake in another deployment does not
    stop this one)."""
    root = root or config_dir()
    path = root / "deployments" / f"{key}.yaml"
    if not path.is_file():
        known = ", ".join(partition_key(p) for p in deployment_files(root))
        raise ConfigError(f"no deployment file for partition '{key}': expected {path}. Available: {known}")
    return load_deployment(path, root)


def load_deployments(root: Path | None = None) -> dict[str, Deployment]:
    """Every deployment under ``root/deployments``, keyed by partition key, in name order."""
    root = root or config_dir()
    deployments = {}
    for path in deployment_files(root):
        deployment = load_deployment(path, root)
        deployments[deployment.key] = deployment
    return deployments
