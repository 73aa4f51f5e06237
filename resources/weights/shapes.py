"""The shapes of real checkpoints, as tables: what a shape-only model must contain (pure).

A shape-only model has a real checkpoint's architecture, tensor names, shapes, dtypes and
quantization, with random values. vLLM's speed per token and its memory fit depend only on
those, so such a model measures a serving configuration before its weights are downloaded.
What it cannot measure: answers (its text is noise) and anything that depends on the learned
values, such as MoE routing, which for random router weights spreads tokens almost evenly over
the experts, while a trained router favours some (so per-expert load, and speed at large
batches, can differ somewhat from the real model's).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

# Block FP8 (DeepSeek-style): each weight is float8_e4m3fn, with one float32 scale per
# 128x128 block, stored as ``<name>.weight_scale_inv``.
FP8_BLOCK = 128


@dataclass(frozen=True)
class MoeShape:
    """A Qwen3-MoE-style decoder: attention with separate KV heads and a routed expert MLP."""

    name: str
    like: str  # the checkpoint whose shape this is
    hidden_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    num_experts: int
    experts_per_token: int
    moe_intermediate_size: int
    vocab_size: int
    max_position_embeddings: int
    rope_theta: float
    fp8_block: int | None  # None: bf16 weights throughout

    def with_layers(self, num_layers: int) -> "MoeShape":
        return replace(self, num_layers=num_layers)


SHAPES: dict[str, MoeShape] = {
    "qwen3-30b-a3b-fp8": MoeShape(
        name="qwen3-30b-a3b-fp8",
        like="Qwen/Qwen3-30B-A3B-Instruct-2507-FP8",
        hidden_size=2048,
        num_layers=48,
        num_heads=32,
        num_kv_heads=4,
        head_dim=128,
        num_experts=128,
        experts_per_token=8,
        moe_intermediate_size=768,
        vocab_size=151936,
        max_position_embeddings=262144,
        rope_theta=10_000_000.0,
        fp8_block=FP8_BLOCK,
    ),
}


@dataclass(frozen=True)
class TensorSpec:
    name: str
    shape: tuple[int, ...]
    kind: str  # "fp8" (with a block scale tensor), "bf16" (random), "ones" (a norm's weight)


def shape_by_name(name: str) -> MoeShape:
    if name not in SHAPES:
        raise KeyError(f"unknown shape '{name}'; known shapes: {', '.join(sorted(SHAPES))}")
    return SHAPES[name]


def layer_tensors(shape: MoeShape, layer: int) -> list[TensorSpec]:
    """One decoder layer's tensors, named as the checkpoint names them."""
    p = f"model.layers.{layer}."
    linear = "fp8" if shape.fp8_block else "bf16"
    h, hd = shape.hidden_size, shape.head_dim
    specs = [
        TensorSpec(p + "self_attn.q_proj", (shape.num_heads * hd, h), linear),
        TensorSpec(p + "self_attn.k_proj", (shape.num_kv_heads * hd, h), linear),
        TensorSpec(p + "self_attn.v_proj", (shape.num_kv_heads * hd, h), linear),
        TensorSpec(p + "self_attn.o_proj", (h, shape.num_heads * hd), linear),
        TensorSpec(p + "self_attn.q_norm", (hd,), "ones"),
        TensorSpec(p + "self_attn.k_norm", (hd,), "ones"),
        TensorSpec(p + "input_layernorm", (h,), "ones"),
        TensorSpec(p + "post_attention_layernorm", (h,), "ones"),
        # The router stays bf16 in FP8 checkpoints.
        TensorSpec(p + "mlp.gate", (shape.num_experts, h), "bf16"),
    ]
    mi = shape.moe_intermediate_size
    for expert in range(shape.num_experts):
        q = f"{p}mlp.experts.{expert}."
        specs += [
            TensorSpec(q + "gate_proj", (mi, h), linear),
            TensorSpec(q + "up_proj", (mi, h), linear),
            TensorSpec(q + "down_proj", (h, mi), linear),
        ]
    return specs


def outer_tensors(shape: MoeShape) -> list[TensorSpec]:
    """Embedding, final norm and LM head (untied, bf16 in FP8 checkpoints)."""
    return [
        TensorSpec("model.embed_tokens", (shape.vocab_size, shape.hidden_size), "bf16"),
        TensorSpec("model.norm", (shape.hidden_size,), "ones"),
        TensorSpec("lm_head", (shape.vocab_size, shape.hidden_size), "bf16"),
    ]


def block_scale_shape(spec: TensorSpec, block: int) -> tuple[int, int]:
    rows, cols = spec.shape
    return (rows + block - 1) // block, (cols + block - 1) // block


def _count(shape_: tuple[int, ...]) -> int:
    total = 1
    for dim in shape_:
        total *= dim
    return total


def parameter_count(shape: MoeShape) -> int:
    """Parameters of the whole model (block scales not counted, as model cards do not count them)."""
    specs = outer_tensors(shape) + [s for layer in range(shape.num_layers) for s in layer_tensors(shape, layer)]
    return sum(_count(s.shape) for s in specs)


def active_parameter_count(shape: MoeShape) -> int:
    """Active parameters as model cards count them: all but the experts not routed to (the
    embedding table included, though decoding reads one row of it)."""
    per_expert = 3 * shape.moe_intermediate_size * shape.hidden_size
    idle = (shape.num_experts - shape.experts_per_token) * per_expert * shape.num_layers
    return parameter_count(shape) - idle


def weights_bytes(shape: MoeShape) -> int:
    """Bytes of the safetensors payload: 1 byte per FP8 weight plus its float32 scales, 2 per bf16."""
    total = 0
    for spec in outer_tensors(shape) + [s for layer in range(shape.num_layers) for s in layer_tensors(shape, layer)]:
        if spec.kind == "fp8":
            total += _count(spec.shape) + 4 * _count(block_scale_shape(spec, shape.fp8_block))
        else:
            total += 2 * _count(spec.shape)
    return total


def hf_config(shape: MoeShape, bos_token_id: int, eos_token_id: int) -> dict:
    """The checkpoint's config.json, as vLLM and transformers read it."""
    config = {
        "architectures": ["Qwen3MoeForCausalLM"],
        "model_type": "qwen3_moe",
        "attention_bias": False,
        "attention_dropout": 0.0,
        "bos_token_id": bos_token_id,
        "eos_token_id": eos_token_id,
        "decoder_sparse_step": 1,
        "head_dim": shape.head_dim,
        "hidden_act": "silu",
        "hidden_size": shape.hidden_size,
        "initializer_range": 0.02,
        "intermediate_size": 6144,
        "max_position_embeddings": shape.max_position_embeddings,
        "max_window_layers": shape.num_layers,
        "mlp_only_layers": [],
        "moe_intermediate_size": shape.moe_intermediate_size,
        "norm_topk_prob": True,
        "num_attention_heads": shape.num_heads,
        "num_experts": shape.num_experts,
        "num_experts_per_tok": shape.experts_per_token,
        "num_hidden_layers": shape.num_layers,
        "num_key_value_heads": shape.num_kv_heads,
        "output_router_logits": False,
        "rms_norm_eps": 1e-6,
        "rope_scaling": None,
        "rope_theta": shape.rope_theta,
        "router_aux_loss_coef": 0.001,
        "sliding_window": None,
        "tie_word_embeddings": False,
        "torch_dtype": "bfloat16",
        "use_cache": True,
        "use_sliding_window": False,
        "vocab_size": shape.vocab_size,
    }
    if shape.fp8_block:
        config["quantization_config"] = {
            "activation_scheme": "dynamic",
            "fmt": "e4m3",
            "quant_method": "fp8",
            "weight_block_size": [shape.fp8_block, shape.fp8_block],
        }
    return config
