"""The tiny model is described from its safetensors header, without importing torch."""

from __future__ import annotations

import numpy as np
from safetensors.numpy import save_file

from resources.weights.tiny_model import safetensors_shapes


def test_shapes_come_from_the_header_as_safetensors_writes_it(tmp_path):
    file = tmp_path / "model.safetensors"
    save_file(
        {"a.weight": np.zeros((3, 4), np.float32), "b.bias": np.zeros((7,), np.float32)},
        str(file),
        metadata={"format": "pt"},
    )
    assert safetensors_shapes(file) == {"a.weight": [3, 4], "b.bias": [7]}
