"""vLLM's compile cache, kept per deployment between server starts.

vLLM saves what ``torch.compile`` produced under ``VLLM_CACHE_ROOT`` and loads it on the next start
with the same configuration: on a GPU that turns about a minute of compiling into seconds. A fresh
folder (or container) every night pays the full price again, so the pipeline keeps one cache per
deployment: a folder under ``EVAL_HOME/vllm-cache/`` for the process runtime, a named volume on the
serving host for the docker runtime. Both are keyed by the deployment's config hash, which covers
the image (or local vLLM and torch), the weights and every serve argument, so a change of any of
them starts from an empty cache and stale artifacts are never loaded. A cold start (asked for with
the run tag ``cold_start: true``) empties the deployment's cache first, to measure it.

The points of a sweep share one cache: they differ in serving arguments, and vLLM keys what it
saves by its own hash of the configuration that shapes the compiled graphs (and Inductor by the
graph's content), so a point whose change does not alter what is compiled (``max_num_seqs``, the
KV-cache size, ...) loads what an earlier point compiled, and one whose change does compiles beside it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from resources.config.eval_home import compile_cache_dir

CACHE_ENV = "VLLM_CACHE_ROOT"
# Inductor's compiled kernels live in torch's own cache (/tmp/torchinductor_<user> by default), not
# vLLM's: without this a "cold" start still finds them, and a new host never has them.
INDUCTOR_ENV = "TORCHINDUCTOR_CACHE_DIR"
CONTAINER_CACHE_ROOT = "/vllm-cache"
COLD_START_TAG = "cold_start"


def cache_env(root: str, env: dict[str, str]) -> dict[str, str]:
    """The variables that put vLLM's and Inductor's caches under ``root``; those the config sets
    itself are left to it (a cache the user points elsewhere is the user's to manage)."""
    wanted = {CACHE_ENV: root, INDUCTOR_ENV: f"{root}/inductor"}
    return {key: value for key, value in wanted.items() if key not in env}


def wants_cold_start(tags: dict[str, str]) -> bool:
    """Whether a run's tags ask for a start from an empty compile cache."""
    return str(tags.get(COLD_START_TAG, "")).strip().lower() in ("1", "true", "yes")


def cache_slot(deployment, config_hash: str) -> tuple[str, str]:
    """(scope, key) of a deployment's compile cache: its partition and config hash, or for a sweep's
    point the sweep and one key shared by all its points."""
    if deployment.sweep is not None:
        return deployment.sweep, "sweep-shared"
    return deployment.key, config_hash


def local_cache(partition: str, config_hash: str, cold: bool) -> Path:
    """The process runtime's cache folder for this configuration; other configurations' folders
    of the partition are removed (they can never be loaded again), and a cold start empties it."""
    root = compile_cache_dir() / partition
    folder = root / config_hash
    if root.is_dir():
        for other in root.iterdir():
            if other.name != config_hash:
                shutil.rmtree(other, ignore_errors=True)
    if cold:
        shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def volume_prefix(partition: str) -> str:
    return f"vllm-eval-cache-{partition}-"


def volume_name(partition: str, config_hash: str) -> str:
    """The docker runtime's named volume for this configuration, on the serving host's engine."""
    return f"{volume_prefix(partition)}{config_hash}"
