"""Shape-only models: a real checkpoint's architecture with random weights.

The tables are checked against the real Qwen3-30B-A3B-Instruct-2507-FP8's published figures
(30.5 B parameters, 3.3 B active, 48 layers, 128 experts, 8 active, block FP8 128x128). The
writer runs here on the CPU at a reduced size (fewer layers, experts and vocabulary: the full
shape is 31 GB, generated on the GPU host itself).
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from resources.config.models import ModelConfig
from resources.weights.shape_model import existing_shape_model, generate_shape_model, shape_identity
from resources.weights.shapes import (
    SHAPES,
    active_parameter_count,
    hf_config,
    layer_tensors,
    parameter_count,
    weights_bytes,
)
from resources.weights.tiny_model import safetensors_shapes

QWEN = SHAPES["qwen3-30b-a3b-fp8"]


def test_the_qwen3_30b_a3b_fp8_shape_has_the_checkpoints_published_size():
    assert round(parameter_count(QWEN) / 1e9, 1) == 30.5
    assert 3.3e9 < active_parameter_count(QWEN) < 3.4e9  # the card says 3.3B activated
    # About 31 GB on disk: one byte per FP8 weight plus bf16 embeddings, router and head.
    assert 31.0e9 < weights_bytes(QWEN) < 31.3e9


def test_its_config_is_what_vllm_reads_for_qwen3_moe_with_block_fp8():
    config = hf_config(QWEN, bos_token_id=0, eos_token_id=2)
    assert config["architectures"] == ["Qwen3MoeForCausalLM"]
    assert (config["num_hidden_layers"], config["num_experts"], config["num_experts_per_tok"]) == (48, 128, 8)
    assert config["quantization_config"]["weight_block_size"] == [128, 128]
    names = {spec.name for spec in layer_tensors(QWEN, 0)}
    assert "model.layers.0.mlp.experts.127.down_proj" in names and "model.layers.0.mlp.gate" in names


def test_a_model_config_names_a_shape_only_for_generated_weights():
    assert ModelConfig(source="generated", shape="qwen3-30b-a3b-fp8").shape == "qwen3-30b-a3b-fp8"
    with pytest.raises(ValidationError, match="unknown shape 'qwen3-31b'; known shapes: qwen3-30b-a3b-fp8"):
        ModelConfig(source="generated", shape="qwen3-31b")
    with pytest.raises(ValidationError, match="'shape' applies to source generated only"):
        ModelConfig(source="local", path="/models/x", shape="qwen3-30b-a3b-fp8")


def test_the_writer_lays_out_a_hugging_face_folder_with_fp8_blocks_and_reuses_it(tmp_path):
    small = dataclasses.replace(QWEN, num_layers=2, num_experts=4, experts_per_token=2, vocab_size=4096)
    made = generate_shape_model(tmp_path / "m", small, device="cpu")

    index = json.loads((made.path / "model.safetensors.index.json").read_text())
    files = sorted(set(index["weight_map"].values()))
    assert files == [
        "model-00001-of-00003.safetensors",
        "model-00002-of-00003.safetensors",
        "model-00003-of-00003.safetensors",
    ]
    layer0 = safetensors_shapes(made.path / files[1])
    assert layer0["model.layers.0.mlp.experts.3.gate_proj.weight"] == [768, 2048]
    assert layer0["model.layers.0.mlp.experts.3.gate_proj.weight_scale_inv"] == [6, 16]
    assert layer0["model.layers.0.self_attn.k_proj.weight"] == [512, 2048]
    header = (made.path / files[1]).read_bytes()[:20000]
    assert b'"F8_E4M3"' in header
    config = json.loads((made.path / "config.json").read_text())
    assert config["num_hidden_layers"] == 2 and config["num_experts"] == 4
    tokenizer = json.loads((made.path / "tokenizer_config.json").read_text())
    assert "<|im_start|>" in tokenizer["chat_template"]
    assert index["metadata"]["total_size"] == sum((made.path / f).stat().st_size for f in files)

    assert existing_shape_model(made.path, small)
    again = generate_shape_model(tmp_path / "m", small, device="cpu")
    assert again.seconds == 0.0 and again.identity == made.identity == shape_identity(small)
    assert not existing_shape_model(made.path, QWEN), "another shape is not taken for this one"


def test_a_first_run_generates_the_shape_model_in_a_child_so_its_own_process_holds_no_gpu_context(tmp_path):
    """On a bare GPU host the writer's CUDA context stayed in the run's process, and the busy-GPU
    check then refused the run's own server. The run's process must never load torch to generate."""
    code = (
        "import dataclasses, json, sys\n"
        "from pathlib import Path\n"
        "from resources.weights.shapes import shape_by_name\n"
        "from resources.weights.shape_model import generate_shape_model_in_child\n"
        "small = dataclasses.replace(shape_by_name('qwen3-30b-a3b-fp8'), num_layers=1, num_experts=2,\n"
        "                            experts_per_token=1, vocab_size=4096)\n"
        "lines = []\n"
        "made = generate_shape_model_in_child(Path(sys.argv[1]), small, lines.append)\n"
        "print(json.dumps({'torch_in_this_process': 'torch' in sys.modules, 'path': str(made.path),\n"
        "                  'identity': made.identity, 'progress': lines}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "m")],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["torch_in_this_process"] is False
    assert (Path(result["path"]) / "config.json").is_file() and existing_shape_model(
        Path(result["path"]),
        dataclasses.replace(QWEN, num_layers=1, num_experts=2, experts_per_token=1, vocab_size=4096),
    )
    assert any("shard 1/" in line for line in result["progress"])
