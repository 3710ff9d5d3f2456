"""Embedder backend that runs a `kaobot export onnx` embedder with onnxruntime.

The file carries the checkpoint's model id and `meta` (input size, margin, mean, std, dim), so faces
are cropped and normalised exactly as `TorchEmbedder` does (`CropEmbedder`) and the vectors keep
the torch checkpoint's `model_id`: a gallery enrolled with either backend stays valid with the other.
The export has a dynamic batch axis: each batch of crops is one `session.run`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ModelFileError
from ..onnx_models import open_onnx_model
from .crops import CropEmbedder


class OnnxEmbedder(CropEmbedder):
    """Runs an exported embedding network on face crops (CPU, or CUDA when available and allowed)."""

    def __init__(self, model: str | Path, device: str = "auto", batch_size: int = 64) -> None:
        onnx = open_onnx_model(model, "embedder", device)
        try:
            self._read_meta(onnx.json_prop("meta"))
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFileError(f"model file {model} has incomplete embedder metadata: {exc}") from exc
        self.session = onnx.session
        self.input_name = self.session.get_inputs()[0].name
        self.model_id = onnx.model_id
        self.batch_size = batch_size

    def _forward(self, batch: np.ndarray) -> np.ndarray:
        (out,) = self.session.run(None, {self.input_name: batch})
        if out.shape != (len(batch), self.dim):
            raise ModelFileError(f"embedder returned shape {out.shape}, expected ({len(batch)}, {self.dim})")
        return out
