"""Two runs on different GPU hosts make the tiny model at the same moment, into one folder."""

from __future__ import annotations

import shutil

import resources.weights.tiny_model as tiny_model


def test_a_model_finished_by_another_run_meanwhile_is_kept_not_replaced_under_its_server(tmp_path, monkeypatch):
    reference = tiny_model.generate_tiny_model(tmp_path / "reference")
    target = tmp_path / "models" / "tiny-llama"
    seen = {}

    import safetensors.torch

    real_save = safetensors.torch.save_file

    def save_while_another_run_finishes(tensors, path, metadata=None):
        # The other run renames its complete copy into place, and its server mounts it.
        shutil.copytree(reference.path, target)
        seen["inode"] = target.stat().st_ino
        real_save(tensors, path, metadata=metadata)

    monkeypatch.setattr(safetensors.torch, "save_file", save_while_another_run_finishes)
    made = tiny_model.generate_tiny_model(target)

    assert target.stat().st_ino == seen["inode"], "the folder a server had mounted was replaced"
    assert made.content_hash == reference.content_hash
    assert sorted(p.name for p in target.parent.iterdir()) == ["tiny-llama"], "no staging folder is left"
