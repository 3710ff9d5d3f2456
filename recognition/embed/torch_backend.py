"""Embedder backend that loads a kaobot ArcFace checkpoint.

Checkpoint (see `recognition.checkpoints`): `format: kaobot-embedder`, `arch` and `arch_kwargs`
from `recognition.embed.nets`, and `meta`:

* `input_size` (int): side of the square face crop fed to the network;
* `margin` (float): crop margin around the face box, as in `recognition.preprocess.crop_face`;
* `mean`, `std` (3 floats each): normalisation of RGB values on a 0–1 scale;
* `dim` (int): embedding size (must match the network's output).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..checkpoints import load_checkpoint
from ..device import resolve_device
from ..errors import ModelFileError
from ..faces import Face
from ..preprocess import crop_face, l2_normalize, to_tensor_batch


class TorchEmbedder:
    """Runs a trained embedding network on face crops (batched, inference mode)."""

    def __init__(self, checkpoint: str | Path, device: str = "auto", batch_size: int = 64) -> None:
        import torch

        from .nets import build_embedding_net

        payload = load_checkpoint(checkpoint, kind="embedder")
        meta = payload["meta"]
        try:
            self.input_size = int(meta["input_size"])
            self.margin = float(meta["margin"])
            self.mean = [float(v) for v in meta["mean"]]
            self.std = [float(v) for v in meta["std"]]
            self.dim = int(meta["dim"])
            net = build_embedding_net(payload["arch"], **payload["arch_kwargs"])
            net.load_state_dict(
                {k: v.float() if v.is_floating_point() else v for k, v in payload["state_dict"].items()}
            )
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise ModelFileError(f"model file {checkpoint} does not match its metadata: {exc}") from exc
        self.model_id = str(payload["model_id"])
        self.device = resolve_device(device)
        self.batch_size = batch_size
        self.net = net.to(self.device).eval()
        self._torch = torch

    def crops(self, image: np.ndarray, faces: Sequence[Face]) -> list[np.ndarray]:
        """The network's input crops for `faces` (exposed for batching across images)."""
        return [crop_face(image, f.box, margin=self.margin, size=self.input_size) for f in faces]

    def embed_crops(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        """Embed prepared crops in batches."""
        torch = self._torch
        if not crops:
            return np.zeros((0, self.dim), np.float32)
        out = []
        with torch.inference_mode():
            for i in range(0, len(crops), self.batch_size):
                batch = torch.from_numpy(to_tensor_batch(crops[i : i + self.batch_size], self.mean, self.std))
                out.append(self.net(batch.to(self.device)).float().cpu().numpy())
        return l2_normalize(np.concatenate(out))

    def embed(self, image: np.ndarray, faces: Sequence[Face]) -> np.ndarray:
        return self.embed_crops(self.crops(image, faces))
