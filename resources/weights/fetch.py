"""Gets a deployment's weights onto local disk, pinned, and says what exactly was got.

- ``generated``: the project's tiny model, made deterministically; identified by content hash.
  With ``shape``: a real checkpoint's architecture with random weights (``shape_model``),
  identified by the shape, seed and writer version that determine its bytes.
- ``huggingface``: ``snapshot_download`` at the pinned revision (the real download code);
  identified by the resolved commit. With no hub reachable it resolves from the local cache.
- ``local``: a folder the user provides; identified by content hash.
- ``package``: a model file shipped in a Python package at a pinned version (a GGUF), checked
  against the package's RECORD and converted once into a folder vLLM loads (``gguf_convert``);
  identified by the file's sha256 plus the converter's version.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from resources.config.eval_home import models_dir
from resources.config.models import Deployment, ModelConfig
from resources.config.secrets import mask
from resources.weights.content_hash import folder_content_hash
from resources.weights.tiny_model import generate_tiny_model


class WeightsError(RuntimeError):
    """The weights could not be had; the message names the model, revision and fix."""


@dataclass(frozen=True)
class WeightsOnHost:
    """Weights placed on the serving host: in a named volume of its Docker Engine, their content
    hash computed there."""

    engine: str
    host: str
    volume: str
    content_hash: str
    size_bytes: int
    files: int
    action: str  # "copied", "reused" (the volume held the same content) or "downloaded" (there, from the hub)
    seconds: float


@dataclass(frozen=True)
class Weights:
    path: Path  # on this machine; for weights only on the serving host, their path in the service container
    model_id: str
    source: str
    revision: str
    size_bytes: int
    on_host: WeightsOnHost | None = None  # None: the server reads them from ``path`` on this machine

    @property
    def identity(self) -> str:
        return f"{self.source}:{self.model_id}@{self.revision}"


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def fetch_weights(
    model_name: str,
    model: ModelConfig,
    hf_cache_dir: Path | None = None,
    offline: bool | None = None,
    on_progress: Callable[[str], None] = lambda line: None,
) -> Weights:
    if model.source == "generated" and model.shape:
        from resources.weights.shape_model import generate_shape_model_in_child
        from resources.weights.shapes import shape_by_name

        made = generate_shape_model_in_child(models_dir() / model_name, shape_by_name(model.shape), on_progress)
        return Weights(made.path, model_name, "generated", f"shape-{model.shape}@{made.identity}", made.size_bytes)
    if model.source == "package":
        return _from_package(model_name, model, on_progress)
    if model.source == "generated":
        generated = generate_tiny_model(models_dir() / model_name)
        return Weights(
            generated.path, model_name, "generated", f"sha256:{generated.content_hash}", generated.size_bytes
        )
    if model.source == "local":
        folder = Path(model.path).expanduser()
        if not (folder / "config.json").is_file():
            raise WeightsError(
                f"model '{model_name}': local folder {folder} has no config.json; point 'path' at the "
                "folder that holds the model's config.json and weights"
            )
        return Weights(folder, model_name, "local", f"sha256:{folder_content_hash(folder)}", _size(folder))
    return _from_hub(model_name, model, hf_cache_dir, offline)


def weights_present_locally(model_name: str, model: ModelConfig, hf_cache_dir: Path | None = None) -> bool:
    """Whether the weights are on disk already (so the disk-space gate need not count them)."""
    if model.source == "generated" and model.shape:
        from resources.weights.shape_model import existing_shape_model
        from resources.weights.shapes import shape_by_name

        return existing_shape_model(models_dir() / model_name, shape_by_name(model.shape))
    if model.source == "generated":
        return (models_dir() / model_name / "model.safetensors").exists()
    if model.source == "local":
        return (Path(model.path).expanduser() / "config.json").is_file()
    if model.source == "package":
        from resources.weights.gguf_convert import existing_conversion
        from resources.weights.package_file import PackageFileError, find_package_file

        try:
            shipped = find_package_file(model.package, model.version, model.file)
        except PackageFileError:  # model_weights will say why; here it only means "not present"
            return False
        return existing_conversion(models_dir() / model_name, shipped.sha256) is not None
    from huggingface_hub import snapshot_download

    try:
        snapshot_download(repo_id=model.repo, revision=model.revision, cache_dir=hf_cache_dir, local_files_only=True)
        return True
    except Exception:  # not cached: any failure here just means "not present"
        return False


def _from_package(model_name: str, model: ModelConfig, on_progress: Callable[[str], None]) -> Weights:
    from resources.weights.gguf_convert import ConversionError, convert_in_child, existing_conversion
    from resources.weights.package_file import PackageFileError, find_package_file, install_hint

    try:
        shipped = find_package_file(model.package, model.version, model.file)
    except PackageFileError as exc:
        raise WeightsError(f"model '{model_name}': {exc}") from None
    target = models_dir() / model_name
    if not existing_conversion(target, shipped.sha256):
        on_progress(
            f"converting {model.file} of {model.package}=={model.version} "
            f"({shipped.size_bytes / 2**20:.1f} MiB, sha256 {shipped.sha256[:12]}) into {target}"
        )
    try:
        converted = convert_in_child(shipped.path, shipped.sha256, target, on_progress)
    except ConversionError as exc:
        raise WeightsError(
            f"model '{model_name}': converting {model.file} of package {model.package}=={model.version} failed "
            f"({exc}). A damaged install is the usual cause: reinstall with "
            f"`{install_hint(model.package, model.version)} --force-reinstall`; the converter needs the gguf and "
            "accelerate packages (`make install` puts them in)"
        ) from None
    if converted.seconds:
        on_progress(f"converted in {converted.seconds:.1f} s (transformers {converted.transformers_version})")
    else:
        on_progress(f"reusing the conversion at {target} ({converted.identity})")
    return Weights(
        converted.path,
        f"{model.package}=={model.version}:{model.file}",
        "package",
        converted.identity,
        converted.size_bytes,
    )


def _from_hub(model_name: str, model: ModelConfig, cache_dir: Path | None, offline: bool | None) -> Weights:
    from huggingface_hub import snapshot_download

    from resources.config.models import UNPINNED

    if model.revision == UNPINNED:
        raise WeightsError(
            f"model '{model_name}': revision is {UNPINNED}; find the commit with `git ls-remote "
            f"https://huggingface.co/{model.repo} refs/heads/main` and write it in configs/models/{model_name}.yaml"
        )
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    if offline is None:
        offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")
    token = os.environ.get(model.token_env) if model.token_env else None
    try:
        path = snapshot_download(
            repo_id=model.repo,
            revision=model.revision,
            cache_dir=cache_dir,
            token=token,
            local_files_only=offline,
        )
    except (LocalEntryNotFoundError, HfHubHTTPError, OSError, ValueError) as exc:
        reason = mask(str(exc), token)
        raise WeightsError(
            f"model '{model_name}': could not get {model.repo} at revision {model.revision} "
            f"({'offline, ' if offline else ''}{type(exc).__name__}: {reason.splitlines()[0] if reason else ''}). "
            "Check that the revision exists, that the hub is reachable (or the weights are in the "
            "Hugging Face cache), and that the token variable is set for gated models."
        ) from None
    folder = Path(path)
    # The snapshot folder is named after the resolved commit: that is the pinned identity.
    return Weights(folder, model.repo, "huggingface", folder.name, _size(folder))


def weights_landing_dir(deployment: Deployment) -> Path:
    """The folder whose disk the weights fill: the Hugging Face cache for hub models (where
    ``snapshot_download`` writes), the configured folder for local ones, EVAL_HOME/models for the
    generated one. On a remote engine's host, ``runtime.docker.weights_path`` says it instead."""
    model = deployment.model
    if model.source == "huggingface":
        from huggingface_hub.constants import HF_HUB_CACHE

        return Path(HF_HUB_CACHE)
    if model.source == "local":
        return Path(model.path).expanduser()
    return models_dir()


def cached_model_config(deployment: Deployment, hf_cache_dir: Path | None = None) -> dict | None:
    """The model's config.json when it is on this machine already (never downloads), else None."""
    import json

    model = deployment.model
    if model.source == "huggingface":
        from resources.config.models import UNPINNED

        if model.revision == UNPINNED:
            return None
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(model.repo, "config.json", cache_dir=hf_cache_dir, revision=model.revision)
        path = Path(found) if isinstance(found, str) else None
    else:
        path = Path(planned_weights_path(deployment)) / "config.json"
    try:
        return json.loads(path.read_text()) if path else None
    except (OSError, ValueError):
        return None


def planned_weights_path(deployment: Deployment) -> str:
    """Where model_weights will put (or find) the weights on this machine."""
    model = deployment.model
    if model.source == "huggingface":
        from huggingface_hub.constants import HF_HUB_CACHE

        return str(Path(HF_HUB_CACHE) / f"models--{model.repo.replace('/', '--')}" / "snapshots" / model.revision)
    if model.source == "local":
        return str(Path(model.path).expanduser())
    return str(models_dir() / deployment.model_name)
