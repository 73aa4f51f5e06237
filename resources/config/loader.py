"""Reads ``configs/`` into validated deployments, with errors that name the file, field and fix."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from resources.config.eval_home import PROJECT_ROOT
from resources.config.models import BenchmarkScenario, Deployment, DeploymentFile, ModelConfig, ParamSet
from resources.config.sweep import SweepFile, describe_settings, fitting_settings, point_keys, split_settings

PARTITION_KEY = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
# A sweep's name is the first part of its points' keys (``NAME.field-value...``): no dots in it.
SWEEP_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
log = logging.getLogger(__name__)


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
        deployment = Deployment(
            key=key, model_name=spec.model, model=model, params_name=spec.params, params=params, spec=spec
        )
    except ValidationError as exc:
        raise ConfigError(_describe_errors(path, exc)) from None
    check_traces(deployment, root, path)
    return deployment


def check_traces(deployment: Deployment, root: Path, referrer: Path) -> None:
    """Each trace a scenario replays exists, reads as vLLM's timed_trace form, and fits max_model_len;
    each conversation file reads as conversations."""
    from resources.benchmark.multi_turn import ConversationError, read_conversations
    from resources.benchmark.trace import TraceError, read_trace

    limit = deployment.params.max_model_len
    for scenario in deployment.spec.benchmarks:
        if scenario.workload.kind == "multi_turn":
            try:
                read_conversations(root / "conversations" / f"{scenario.workload.file}.jsonl")
            except ConversationError as exc:
                raise ConfigError(f"{referrer}: benchmark scenario '{scenario.name}': {exc}") from None
        if scenario.workload.kind != "trace":
            continue
        try:
            trace = read_trace(root / "traces" / f"{scenario.workload.file}.jsonl")
        except TraceError as exc:
            raise ConfigError(f"{referrer}: benchmark scenario '{scenario.name}': {exc}") from None
        if limit and trace.longest > limit:
            raise ConfigError(
                f"{referrer}: benchmark scenario '{scenario.name}': trace '{scenario.workload.file}' has a request of "
                f"{trace.longest} tokens, beyond max_model_len {limit} of parameter set '{deployment.params_name}'"
            )


def load_partition(key: str, root: Path | None = None) -> Deployment:
    """One partition's deployment, reading only its files (a mistake in another deployment does not
    stop this one): a deployment file, or a point of a sweep."""
    root = root or config_dir()
    path = root / "deployments" / f"{key}.yaml"
    if path.is_file():
        return load_deployment(path, root)
    sweep_path = sweeps_dir(root) / f"{key.split('.', 1)[0]}.yaml"
    if "." in key and sweep_path.is_file():
        return load_sweep_point(sweep_path, key, root)
    known = ", ".join(partition_key(p) for p in deployment_files(root))
    raise ConfigError(
        f"no deployment file for partition '{key}': expected {path} (or a point of a sweep under "
        f"{sweeps_dir(root)}). Available: {known}"
    )


def sweeps_dir(root: Path | None = None) -> Path:
    return (root or config_dir()) / "sweeps"


def sweep_files(root: Path | None = None) -> list[Path]:
    """Every sweep file under ``root/sweeps`` (the folder is optional), in name order."""
    folder = sweeps_dir(root)
    return sorted(folder.glob("*.yaml")) if folder.is_dir() else []


def load_sweep(path: Path) -> SweepFile:
    if not SWEEP_NAME.match(path.stem):
        raise ConfigError(
            f"{path}: a sweep's file name starts its points' partition keys and must be lower-case letters, "
            "digits, '-' or '_' (no dots); rename the file"
        )
    return _load(path, SweepFile)


def sweep_point_keys(path: Path) -> dict[str, dict[str, Any]]:
    """Partition key -> settings of every point of the sweep file at ``path``."""
    spec = load_sweep(path)
    try:
        return point_keys(path.stem, spec)
    except ValueError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def load_sweep_point(path: Path, key: str, root: Path | None = None) -> Deployment:
    """The deployment one point of a sweep runs: the base deployment with the point's settings."""
    root = root or path.parent.parent
    spec = load_sweep(path)
    points = sweep_point_keys(path)
    if key not in points:
        raise ConfigError(f"{path}: sweep '{path.stem}' has no point '{key}'; its points: {', '.join(points)}")
    base_path = root / "deployments" / f"{spec.base}.yaml"
    if not base_path.is_file():
        available = ", ".join(partition_key(p) for p in deployment_files(root))
        raise ConfigError(
            f"{path}: base: deployment '{spec.base}' not found; expected {base_path}. Available: {available}"
        )
    base = load_deployment(base_path, root)
    settings = points[key]
    param_settings, bench_settings = split_settings(settings)
    where = f"{path}: point '{key}' ({describe_settings(settings)})"
    try:
        params = ParamSet.model_validate(base.params.model_dump() | param_settings)
        scenarios = tuple(
            BenchmarkScenario.model_validate(scenario.model_dump() | fitting_settings(scenario, bench_settings))
            for scenario in (spec.benchmarks or base.spec.benchmarks)
        )
        runtime = base.runtime.model_copy(update={"port": spec.port} if spec.port else {})
        description = spec.description or f"sweep '{path.stem}' over deployment '{spec.base}'"
        file = base.spec.model_copy(
            update={
                "accuracy": base.spec.accuracy if spec.accuracy else None,
                "benchmarks": scenarios,
                "runtime": runtime,
                "description": f"{description}: {describe_settings(settings)}",
            }
        )
        point = Deployment(
            key=key,
            model_name=base.model_name,
            model=base.model,
            params_name=f"{base.params_name} + {describe_settings(param_settings)}"
            if param_settings
            else base.params_name,
            params=params,
            spec=DeploymentFile.model_validate(file.model_dump()),
            sweep=path.stem,
            sweep_settings=settings,
        )
    except ValidationError as exc:
        raise ConfigError(_describe_errors(Path(where), exc).replace(": invalid config", ": refused", 1)) from None
    check_traces(point, root, path)
    return point


def sweep_partitions(root: Path | None = None) -> list[str]:
    """Every sweep point's partition key, for the partitions named when the code loads.

    A sweep file that cannot be read contributes no points and a warning: one broken sweep must not
    take every deployment's partitions down with it. ``python -m pipelines sweep plan NAME`` shows
    its error in full."""
    root = root or config_dir()
    deployments = {partition_key(p) for p in deployment_files(root)}
    keys: list[str] = []
    for path in sweep_files(root):
        try:
            points = sweep_point_keys(path)
        except ConfigError as exc:
            log.warning("sweep left out of the partitions: %s", exc)
            continue
        clash = sorted(deployments & set(points))
        if clash:
            log.warning("sweep %s left out: its points %s are also deployment files", path, ", ".join(clash))
            continue
        keys += points
    return keys


def load_sweep_points(root: Path | None = None) -> dict[str, Deployment]:
    """Every readable sweep point's deployment, keyed by partition key."""
    root = root or config_dir()
    points = {}
    for key in sweep_partitions(root):
        try:
            points[key] = load_partition(key, root)
        except ConfigError as exc:
            log.warning("sweep point left out: %s", exc)
    return points


def load_deployments(root: Path | None = None) -> dict[str, Deployment]:
    """Every deployment under ``root/deployments``, keyed by partition key, in name order."""
    root = root or config_dir()
    deployments = {}
    for path in deployment_files(root):
        deployment = load_deployment(path, root)
        deployments[deployment.key] = deployment
    return deployments
