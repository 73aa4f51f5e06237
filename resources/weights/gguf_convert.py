"""Converts a GGUF checkpoint into a Hugging Face folder that vLLM loads (safetensors, config, tokenizer).

vLLM's CPU build does not run GGUF's quantized kernels, so a GGUF model is dequantized once, on the
host that serves, with transformers' GGUF reader (it needs the ``gguf`` and ``accelerate``
packages) and written in bf16. ``save_pretrained`` refuses a GGUF-quantized model, so the state
dict is written with safetensors and the config without its ``quantization_config``.

It runs in a child process (``python -m resources.weights.gguf_convert GGUF OUTDIR``): the
dequantized model's memory goes back when it exits, and transformers' progress reaches the run's
log line by line. The folder is identified by the GGUF file's sha256 plus this converter's version
and the transformers version that did the work; it is written beside its target and renamed into
place, so an interrupted conversion never leaves a folder that looks complete.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

CONVERTER_VERSION = 1
OUTPUT_DTYPE = "bfloat16"
MARKER_FILE = "converted_from.json"
RESULT_MARKER = "VLLM_EVAL_CONVERTED "


class ConversionError(RuntimeError):
    """The GGUF file could not be converted; the message carries the converter's last words."""


@dataclass(frozen=True)
class ConvertedModel:
    path: Path
    identity: str  # "sha256:<gguf sha256>+gguf-to-hf/<converter version>+transformers-<version>"
    transformers_version: str
    size_bytes: int
    seconds: float  # 0 when an existing conversion was reused


def conversion_identity(gguf_sha256: str) -> str:
    """The file's sha256, this converter's version and the transformers that dequantizes: a
    transformers upgrade may write other bytes, so it converts again under a new identity."""
    import importlib.metadata

    return (
        f"sha256:{gguf_sha256}+gguf-to-hf/{CONVERTER_VERSION}+transformers-{importlib.metadata.version('transformers')}"
    )


def existing_conversion(target: Path, gguf_sha256: str) -> dict | None:
    """The marker of a finished conversion of exactly this file by this converter, else None."""
    try:
        marker = json.loads((Path(target) / MARKER_FILE).read_text())
    except (OSError, ValueError):
        return None
    return marker if marker.get("identity") == conversion_identity(gguf_sha256) else None


def convert_in_child(
    gguf: Path, gguf_sha256: str, target: Path, on_progress: Callable[[str], None] = lambda line: None
) -> ConvertedModel:
    """The converted folder at ``target``: reused when it holds this file's conversion, else made by
    a child interpreter whose output lines go to ``on_progress``."""
    target = Path(target)
    found = existing_conversion(target, gguf_sha256)
    if found:
        return ConvertedModel(target, found["identity"], found["transformers_version"], _size(target), 0.0)
    from resources.weights.child_module import ChildModuleError, run_child_module

    started = time.monotonic()
    try:
        result = run_child_module(
            "resources.weights.gguf_convert",
            [str(gguf), str(target), "--sha256", gguf_sha256],
            RESULT_MARKER,
            on_progress,
        )
    except ChildModuleError as exc:
        raise ConversionError(f"the converter {exc}") from None
    return ConvertedModel(
        target, result["identity"], result["transformers_version"], _size(target), time.monotonic() - started
    )


def convert(gguf: Path, gguf_sha256: str, target: Path) -> dict:
    """Dequantizes ``gguf`` and writes the folder vLLM loads; what the marker file records."""
    import torch
    import transformers
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    started = time.monotonic()
    staging = target.with_name(target.name + f".tmp-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    print(f"reading {gguf.name} ({gguf.stat().st_size / 2**20:.1f} MiB)", flush=True)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    tokenizer.save_pretrained(str(staging))
    print(f"tokenizer written (+{time.monotonic() - started:.1f} s)", flush=True)
    dtype = getattr(torch, OUTPUT_DTYPE)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=dtype)
    print(
        f"dequantized {sum(p.numel() for p in model.parameters()) / 1e6:.1f} M parameters "
        f"(+{time.monotonic() - started:.1f} s)",
        flush=True,
    )
    state = {name: tensor.detach().to(dtype).contiguous() for name, tensor in model.state_dict().items()}
    if model.config.tie_word_embeddings:
        state.pop("lm_head.weight", None)  # the same tensor as the embeddings; safetensors refuses shared ones
    save_file(state, str(staging / "model.safetensors"), metadata={"format": "pt"})
    config = model.config.to_dict()
    config.pop("quantization_config", None)  # the weights written are plain bf16, not GGUF blocks
    config.pop("_name_or_path", None)  # where the package lay on the converting machine: not the model's
    config["dtype"] = OUTPUT_DTYPE
    config["architectures"] = [type(model).__name__]  # vLLM picks its model class by this; GGUF leaves it empty
    (staging / "config.json").write_text(json.dumps(config, indent=2))
    if model.generation_config is not None:
        model.generation_config.save_pretrained(str(staging))
    marker = {
        "identity": conversion_identity(gguf_sha256),
        "gguf_file": gguf.name,
        "gguf_sha256": gguf_sha256,
        "converter_version": CONVERTER_VERSION,
        "transformers_version": transformers.__version__,
        "dtype": OUTPUT_DTYPE,
        "tensors": len(state),
    }
    (staging / MARKER_FILE).write_text(json.dumps(marker, indent=2))
    if target.exists():
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging.rename(target)
    print(f"written {target} (+{time.monotonic() - started:.1f} s)", flush=True)
    return marker


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="convert a GGUF checkpoint into a folder vLLM loads")
    parser.add_argument("gguf", type=Path)
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--sha256", required=True, help="the GGUF file's sha256 (its identity)")
    args = parser.parse_args(argv)
    marker = convert(args.gguf, args.sha256, args.outdir)
    print(RESULT_MARKER + json.dumps(marker), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
