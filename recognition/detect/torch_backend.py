"""Detector backend that loads a kaobot detector checkpoint (a torchvision detection model).

Checkpoint (see `recognition.checkpoints`): `format: kaobot-detector`, `arch` and `arch_kwargs`
from `recognition.detect.nets` (input sizing, score and NMS thresholds live there), and `meta`
(free-form: training data, metrics). The network receives RGB floats on a 0–1 scale; it resizes
and normalises internally.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..checkpoints import float_weights, load_checkpoint
from ..device import resolve_device
from ..errors import ModelFileError
from ..faces import Face, clip_box


class TorchDetector:
    """Runs a trained detection network; keeps faces above `threshold` and `min_size`."""

    def __init__(
        self, checkpoint: str | Path, device: str = "auto", threshold: float = 0.5, min_size: int = 16
    ) -> None:
        import torch

        from .nets import build_detection_net

        payload = load_checkpoint(checkpoint, kind="detector")
        try:
            net = build_detection_net(payload["arch"], **payload["arch_kwargs"])
            net.load_state_dict(float_weights(payload))
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise ModelFileError(f"model file {checkpoint} does not match its metadata: {exc}") from exc
        self.model_id = str(payload["model_id"])
        self.meta = payload["meta"]
        self.device = resolve_device(device)
        self.threshold = threshold
        self.min_size = min_size
        self.net = net.to(self.device).eval()
        self._torch = torch

    def detect_batch(self, images: list[np.ndarray]) -> list[list[Face]]:
        """Detect faces in several images, one forward pass per picture size.

        Pictures of one size go through together; pictures of different sizes are not padded into
        one batch, so each picture's faces are exactly those `detect` finds alone (padding shifts
        the network's border activations and moves boxes by a few pixels)."""
        by_shape: dict[tuple[int, ...], list[int]] = {}
        for i, img in enumerate(images):
            by_shape.setdefault(img.shape, []).append(i)
        results: list[list[Face]] = [[] for _ in images]
        for indices in by_shape.values():
            for i, faces in zip(indices, self._forward([images[i] for i in indices])):
                results[i] = faces
        return results

    def _forward(self, images: list[np.ndarray]) -> list[list[Face]]:
        torch = self._torch
        tensors = [
            torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))).to(self.device).float() / 255.0
            for img in images
        ]
        with torch.inference_mode():
            outputs = self.net(tensors)
        results = []
        for img, out in zip(images, outputs):
            height, width = img.shape[:2]
            faces = []
            for box, score in zip(out["boxes"].cpu().numpy(), out["scores"].cpu().numpy()):
                if score < self.threshold:
                    continue
                face = Face(box=clip_box(tuple(box.tolist()), width, height), score=float(score))
                if min(face.width, face.height) >= self.min_size:
                    faces.append(face)
            results.append(faces)
        return results

    def detect(self, image: np.ndarray) -> list[Face]:
        return self.detect_batch([image])[0]
