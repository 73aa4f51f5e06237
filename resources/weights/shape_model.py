"""Writes a shape-only model: a real checkpoint's architecture and quantization, random weights.

``generate_shape_model(folder, "qwen3-30b-a3b-fp8")`` writes a Hugging Face folder vLLM serves
like the real checkpoint (config.json, one safetensors shard per layer with its index, a
byte-level BPE tokenizer with ChatML specials, a chat template). It runs on the serving host:
on a GPU the random numbers are drawn there (31 GB in about half a minute on an H200), on a
CPU-only host with torch's CPU generator (for reduced shapes in tests). ``shapes.py`` says what
such a model measures and what it does not.

The run's own process never generates: ``generate_shape_model_in_child`` runs the writer in a
child interpreter. On a GPU the writer creates a CUDA context, which torch keeps until its
process exits; left in the run's process, it made the serving host's busy-GPU check refuse the
run's own server on every first run from an empty EVAL_HOME. A child exits and takes it along.

The folder is identified by what determines its bytes (the shape, the seed, this writer's
version), not by hashing tens of GB; it is written beside its target and renamed into place,
so an interrupted run never leaves a folder that looks complete.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from resources.weights.shapes import MoeShape, TensorSpec, block_scale_shape, hf_config, layer_tensors, outer_tensors

WRITER_VERSION = 1
SEED = 0
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
TOKENIZER_VOCAB = 32768
IDENTITY_FILE = "shape_model.json"


@dataclass(frozen=True)
class ShapeModel:
    path: Path
    identity: str
    size_bytes: int
    seconds: float  # 0 when an existing folder was reused


def shape_identity(shape: MoeShape) -> str:
    payload = json.dumps({"shape": asdict(shape), "seed": SEED, "writer": WRITER_VERSION}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def existing_shape_model(target: Path, shape: MoeShape) -> bool:
    marker = Path(target) / IDENTITY_FILE
    return marker.is_file() and json.loads(marker.read_text()).get("identity") == shape_identity(shape)


def generate_shape_model(
    target: Path, shape: MoeShape, device: str | None = None, on_progress: Callable[[str], None] = lambda message: None
) -> ShapeModel:
    target = Path(target)
    identity = shape_identity(shape)
    if existing_shape_model(target, shape):
        return ShapeModel(target, identity, _size(target), 0.0)
    import torch
    from safetensors.torch import save_file

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    started = time.monotonic()
    staging = target.with_name(target.name + f".tmp-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)

    ids = _write_tokenizer(staging)
    on_progress(f"tokenizer written (+{time.monotonic() - started:.1f} s)")
    (staging / "config.json").write_text(
        json.dumps(hf_config(shape, ids["<|endoftext|>"], ids["<|im_end|>"]), indent=2)
    )
    (staging / "generation_config.json").write_text(
        json.dumps({"bos_token_id": ids["<|endoftext|>"], "eos_token_id": ids["<|im_end|>"]})
    )

    generator = torch.Generator(device=device).manual_seed(SEED)

    def materialize(spec: TensorSpec) -> dict:
        if spec.kind == "ones":
            return {spec.name + ".weight": torch.ones(spec.shape, dtype=torch.bfloat16)}
        values = torch.randn(spec.shape, device=device, generator=generator, dtype=torch.float32)
        if spec.kind == "bf16":
            return {spec.name + ".weight": (values * 0.02).to(torch.bfloat16).cpu()}
        # FP8 values spread over e4m3's range, with one constant scale per block: any values
        # cost the same to multiply; these keep activations finite through 48 layers.
        weight = values.clamp_(-4, 4).to(torch.float8_e4m3fn).cpu()
        scale = torch.full(block_scale_shape(spec, shape.fp8_block), 0.02, dtype=torch.float32)
        return {spec.name + ".weight": weight, spec.name + ".weight_scale_inv": scale}

    groups = [outer_tensors(shape)] + [layer_tensors(shape, layer) for layer in range(shape.num_layers)]
    weight_map = {}
    for number, specs in enumerate(groups, start=1):
        file = f"model-{number:05d}-of-{len(groups):05d}.safetensors"
        tensors = {}
        for spec in specs:
            tensors.update(materialize(spec))
        save_file(tensors, str(staging / file), metadata={"format": "pt"})
        weight_map.update({name: file for name in tensors})
        if number % 8 == 1:
            on_progress(f"shard {number}/{len(groups)} written (+{time.monotonic() - started:.1f} s)")
    total = sum(p.stat().st_size for p in staging.glob("*.safetensors"))
    (staging / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=1)
    )
    (staging / IDENTITY_FILE).write_text(
        json.dumps(
            {
                "identity": identity,
                "shape": asdict(shape),
                "seed": SEED,
                "writer": WRITER_VERSION,
                "random_weights": True,
            },
            indent=2,
        )
    )

    if target.exists():
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging.rename(target)
    return ShapeModel(target, identity, _size(target), time.monotonic() - started)


RESULT_MARKER = "VLLM_EVAL_SHAPE_MODEL "


def generate_shape_model_in_child(
    target: Path, shape: MoeShape, on_progress: Callable[[str], None] = lambda message: None
) -> ShapeModel:
    """``generate_shape_model`` in a child interpreter, so that no CUDA context (and none of the
    memory it holds) stays in the calling process; its progress lines go to ``on_progress``."""
    from resources.weights.child_module import ChildModuleError, run_child_module

    target = Path(target)
    if existing_shape_model(target, shape):
        return ShapeModel(target, shape_identity(shape), _size(target), 0.0)
    try:
        result = run_child_module(
            "resources.weights.shape_model",
            ["--shape-json", json.dumps(asdict(shape)), str(target)],
            RESULT_MARKER,
            on_progress,
        )
    except ChildModuleError as exc:
        raise RuntimeError(f"the shape-model writer for {target} {exc}") from None
    return ShapeModel(Path(result["path"]), result["identity"], result["size_bytes"], result["seconds"])


def _write_tokenizer(folder: Path) -> dict[str, int]:
    """A byte-level BPE (any text encodes) trained on seeded pseudo-words, with ChatML specials."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    rng = random.Random(SEED)
    letters = "etaoinshrdlcumwfgypbvkjxqz"
    words = ["".join(rng.choice(letters[: rng.randint(6, 26)]) for _ in range(rng.randint(1, 9))) for _ in range(60000)]
    corpus = [" ".join(rng.choice(words) for _ in range(rng.randint(5, 40))) for _ in range(40000)]
    corpus.append("".join(chr(c) for c in range(32, 127)))
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.train_from_iterator(
        corpus,
        trainers.BpeTrainer(
            vocab_size=TOKENIZER_VOCAB,
            special_tokens=SPECIALS,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        ),
    )
    tokenizer.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(
        json.dumps(
            {
                "tokenizer_class": "PreTrainedTokenizerFast",
                "eos_token": "<|im_end|>",
                "pad_token": "<|endoftext|>",
                "model_max_length": 262144,
                "chat_template": CHAT_TEMPLATE,
            }
        )
    )
    return {name: tokenizer.token_to_id(name) for name in SPECIALS}


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def main(argv: list[str] | None = None) -> int:
    """``python -m resources.weights.shape_model SHAPE OUTDIR [--layers N]``: the same writer by hand
    (``--shape-json`` instead of SHAPE: a shape given whole, as ``generate_shape_model_in_child`` does)."""
    import argparse

    from resources.weights.shapes import shape_by_name

    parser = argparse.ArgumentParser(description="write a shape-only model (random weights)")
    parser.add_argument("shape", nargs="?", help="a known shape's name, e.g. qwen3-30b-a3b-fp8")
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--shape-json", help="the shape's fields as JSON, instead of a name")
    parser.add_argument("--layers", type=int, default=None, help="fewer decoder layers than the real model")
    args = parser.parse_args(argv)
    if (args.shape is None) == (args.shape_json is None):
        parser.error("give a shape's name or --shape-json, not both")
    shape = MoeShape(**json.loads(args.shape_json)) if args.shape_json else shape_by_name(args.shape)
    if args.layers:
        shape = shape.with_layers(args.layers)
    made = generate_shape_model(args.outdir, shape, on_progress=lambda m: print(m, flush=True))
    print(
        RESULT_MARKER
        + json.dumps(
            {
                "path": str(made.path),
                "identity": made.identity,
                "size_bytes": made.size_bytes,
                "seconds": round(made.seconds, 1),
            }
        ),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
