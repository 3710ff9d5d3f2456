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
from ..onnx_models import OnnxModel, open_onnx_model, open_onnx_twin
from .crops import CropEmbedder


class OnnxEmbedder(CropEmbedder):
    """Runs an exported embedding network on face crops (CPU, or CUDA when available and allowed);
    `meta` and `threshold` as `TorchEmbedder` has them."""

    def __init__(self, model: str | Path | OnnxModel, device: str = "auto", batch_size: int = 64) -> None:
        onnx = model if isinstance(model, OnnxModel) else open_onnx_model(model, "embedder", device)
        self.meta = onnx.json_prop("meta")
        try:
            self._read_meta(self.meta)
            self.threshold = self.meta.get("threshold")
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
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


def network_embedder(checkpoint: str | Path, device: str = "auto") -> CropEmbedder:
    """The embedder of a torch embedder checkpoint: its ONNX twin (`recognition.onnx_models`) when one
    was made from it and `device` does not ask for CUDA, else `TorchEmbedder` (which imports torch)."""
    twin = open_onnx_twin(checkpoint, "embedder", device)
    if twin is not None:
        return OnnxEmbedder(twin)
    from .torch_backend import TorchEmbedder

    return TorchEmbedder(checkpoint, device=device)
