"""Embedder backend that loads a kaobot ArcFace checkpoint.

Checkpoint (see `recognition.checkpoints`): `format: kaobot-embedder`, `arch` and `arch_kwargs`
from `recognition.embed.nets`, and `meta`:

* `input_size` (int): side of the square face crop fed to the network;
* `margin` (float): crop margin around the face box, as in `recognition.preprocess.crop_face`;
* `mean`, `std` (3 floats each): normalisation of RGB values on a 0–1 scale;
* `dim` (int): embedding size (must match the network's output).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..checkpoints import float_weights, load_checkpoint
from ..device import resolve_device
from ..errors import ModelFileError
from .crops import CropEmbedder


class TorchEmbedder(CropEmbedder):
    """Runs a trained embedding network on face crops (batched, inference mode)."""

    def __init__(self, checkpoint: str | Path, device: str = "auto", batch_size: int = 64) -> None:
        import torch

        from .nets import build_embedding_net

        payload = load_checkpoint(checkpoint, kind="embedder")
        try:
            self._read_meta(payload["meta"])
            net = build_embedding_net(payload["arch"], **payload["arch_kwargs"])
            net.load_state_dict(float_weights(payload))
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise ModelFileError(f"model file {checkpoint} does not match its metadata: {exc}") from exc
        self.model_id = str(payload["model_id"])
        self.meta = dict(payload["meta"])
        self.threshold = self.meta.get("threshold")
        self.device = resolve_device(device)
        self.batch_size = batch_size
        self.net = net.to(self.device).eval()
        self._torch = torch

    def _forward(self, batch: np.ndarray) -> np.ndarray:
        with self._torch.inference_mode():
            return self.net(self._torch.from_numpy(batch).to(self.device)).float().cpu().numpy()
