"""A tiny Llama-architecture model, generated offline and byte-identical on every run.

The embedded CPU profile needs a model that vLLM really loads and serves, without a model hub.
This one has random weights (its text is noise), but the serving path is the real one: a
Hugging Face folder with ``config.json``, safetensors weights, a BPE tokenizer trained here on
a fixed corpus and a chat template, so ``/v1/chat/completions`` and ``vllm bench serve`` work.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from resources.weights.content_hash import folder_content_hash

HIDDEN_SIZE = 128
INTERMEDIATE_SIZE = 256
NUM_LAYERS = 2
NUM_HEADS = 4
NUM_KV_HEADS = 4
VOCAB_SIZE = 2048
MAX_POSITIONS = 2048
SEED = 0

# A chat template in the style of the common "<|role|>" formats; vLLM needs one to answer
# /v1/chat/completions.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "<|{{ message['role'] }}|>\n{{ message['content'] }}</s>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)

SPECIAL_TOKENS = ["<unk>", "<s>", "</s>", "<|system|>", "<|user|>", "<|assistant|>"]


@dataclass(frozen=True)
class GeneratedModel:
    path: Path
    content_hash: str
    num_parameters: int
    size_bytes: int


def _corpus() -> list[str]:
    """A fixed, varied English-like corpus so the BPE merges are the same on every machine."""
    words = (
        "the quick brown fox jumps over a lazy dog while vllm serves tokens through an "
        "openai compatible api with paged attention continuous batching and prefix caching "
        "on gpus and cpus benchmark latency throughput time to first token per output token "
        "inter token latency request rate concurrency model weights tokenizer config hello "
        "world what is two plus two answer briefly explain why sky blue number one three "
        "four five six seven eight nine ten zero"
    ).split()
    lines = []
    for i in range(4000):
        n = 5 + (i * 7) % 13
        lines.append(" ".join(words[(i * 31 + k * 17) % len(words)] for k in range(n)))
    # Every printable ASCII character, so any prompt can be encoded.
    lines.append("".join(chr(c) for c in range(32, 127)))
    return lines


def _train_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(_corpus(), trainer=trainer)
    return tokenizer


def _config(vocab_size: int) -> dict:
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": HIDDEN_SIZE,
        "intermediate_size": INTERMEDIATE_SIZE,
        "num_hidden_layers": NUM_LAYERS,
        "num_attention_heads": NUM_HEADS,
        "num_key_value_heads": NUM_KV_HEADS,
        "head_dim": HIDDEN_SIZE // NUM_HEADS,
        "hidden_act": "silu",
        "max_position_embeddings": MAX_POSITIONS,
        "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0,
        "vocab_size": vocab_size,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "tie_word_embeddings": False,
        "torch_dtype": "float32",
    }


def _weights(vocab_size: int) -> dict:
    import torch

    generator = torch.Generator().manual_seed(SEED)

    def normal(*shape):
        return (torch.randn(*shape, generator=generator) * 0.02).contiguous()

    head_dim = HIDDEN_SIZE // NUM_HEADS
    tensors = {"model.embed_tokens.weight": normal(vocab_size, HIDDEN_SIZE)}
    for layer in range(NUM_LAYERS):
        p = f"model.layers.{layer}."
        tensors[p + "self_attn.q_proj.weight"] = normal(NUM_HEADS * head_dim, HIDDEN_SIZE)
        tensors[p + "self_attn.k_proj.weight"] = normal(NUM_KV_HEADS * head_dim, HIDDEN_SIZE)
        tensors[p + "self_attn.v_proj.weight"] = normal(NUM_KV_HEADS * head_dim, HIDDEN_SIZE)
        tensors[p + "self_attn.o_proj.weight"] = normal(HIDDEN_SIZE, NUM_HEADS * head_dim)
        tensors[p + "mlp.gate_proj.weight"] = normal(INTERMEDIATE_SIZE, HIDDEN_SIZE)
        tensors[p + "mlp.up_proj.weight"] = normal(INTERMEDIATE_SIZE, HIDDEN_SIZE)
        tensors[p + "mlp.down_proj.weight"] = normal(HIDDEN_SIZE, INTERMEDIATE_SIZE)
        tensors[p + "input_layernorm.weight"] = torch.ones(HIDDEN_SIZE)
        tensors[p + "post_attention_layernorm.weight"] = torch.ones(HIDDEN_SIZE)
    tensors["model.norm.weight"] = torch.ones(HIDDEN_SIZE)
    tensors["lm_head.weight"] = normal(vocab_size, HIDDEN_SIZE)
    return tensors


def _describe(path: Path) -> GeneratedModel:
    params = sum(_prod(shape) for shape in safetensors_shapes(path / "model.safetensors").values())
    size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return GeneratedModel(path, folder_content_hash(path), params, size)


def safetensors_shapes(file: Path) -> dict[str, list[int]]:
    """Tensor shapes from a safetensors file's JSON header (8-byte length, then JSON).

    Read directly rather than through ``safetensors.safe_open(framework="pt")``, which imports
    torch: seconds of start-up on every run that only needs to describe a model already on disk.
    """
    with file.open("rb") as handle:
        header = json.loads(handle.read(int.from_bytes(handle.read(8), "little")))
    return {name: info["shape"] for name, info in header.items() if name != "__metadata__"}


def _prod(shape) -> int:
    total = 1
    for dim in shape:
        total *= dim
    return total


def generate_tiny_model(target: Path) -> GeneratedModel:
    """Write the tiny model into ``target`` (reusing it when already complete) and describe it.

    The folder is written beside the target and renamed into place, so a crash never leaves a
    half-written model that a later run would take for a complete one.
    """
    target = Path(target)
    if _complete(target):
        return _describe(target)

    from safetensors.torch import save_file

    staging = target.with_name(target.name + f".tmp-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)

    tokenizer = _train_tokenizer()
    tokenizer.save(str(staging / "tokenizer.json"))
    vocab_size = tokenizer.get_vocab_size()
    (staging / "config.json").write_text(json.dumps(_config(vocab_size), indent=2, sort_keys=True))
    (staging / "generation_config.json").write_text(
        json.dumps({"bos_token_id": 1, "eos_token_id": 2}, indent=2, sort_keys=True)
    )
    (staging / "tokenizer_config.json").write_text(
        json.dumps(
            {
                "tokenizer_class": "PreTrainedTokenizerFast",
                "bos_token": "<s>",
                "eos_token": "</s>",
                "unk_token": "<unk>",
                "pad_token": "</s>",
                "model_max_length": MAX_POSITIONS,
                "chat_template": CHAT_TEMPLATE,
                "clean_up_tokenization_spaces": False,
            },
            indent=2,
            sort_keys=True,
        )
    )
    (staging / "special_tokens_map.json").write_text(
        json.dumps({"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}, indent=2)
    )
    # A fixed metadata dict keeps the safetensors header byte-identical across runs.
    save_file(_weights(vocab_size), str(staging / "model.safetensors"), metadata={"format": "pt"})

    # Runs on different GPU hosts make the model at the same time. The content is deterministic, so
    # the first complete folder wins and is never replaced: a server may already have it mounted,
    # and removing it under the mount would leave that container an empty /model.
    if not _complete(target):
        shutil.rmtree(target, ignore_errors=True)  # a folder left half-written by an older version
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            staging.rename(target)
        except OSError:  # another process renamed its copy into place first
            if not _complete(target):
                raise
    shutil.rmtree(staging, ignore_errors=True)
    return _describe(target)


def _complete(folder: Path) -> bool:
    return (folder / "model.safetensors").exists() and (folder / "config.json").exists()
