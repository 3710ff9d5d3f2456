"""A fused embedder: a trained torch embedder and the training-free baseline, concatenated.

Each part is a unit vector; the fused vector is `[√w · learned, √(1−w) · baseline]`
(`base.weighted_concat`), itself of unit length, so the cosine similarity of two fused vectors is
`w · cos(learned) + (1−w) · cos(baseline)`.
Its `model_id` names both parts and the weight, so galleries embedded with any other combination
are reported as stale (and re-embedded) rather than compared.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..faces import Face
from .base import check_fusion_weight, weighted_concat
from .baseline import BaselineEmbedder
from .torch_backend import TorchEmbedder


class FusionEmbedder:
    """Weighted concatenation of a `TorchEmbedder` and the `BaselineEmbedder`."""

    def __init__(self, checkpoint: str | Path, weight: float = 0.5, device: str = "auto") -> None:
        self.learned = TorchEmbedder(checkpoint, device=device)
        self.baseline = BaselineEmbedder()
        self.weight = check_fusion_weight(weight)
        self.dim = self.learned.dim + self.baseline.dim
        self.model_id = f"fusion-w{weight:g}-{self.learned.model_id}+{self.baseline.model_id}"

    def embed(self, image: np.ndarray, faces: Sequence[Face]) -> np.ndarray:
        if not faces:
            return np.zeros((0, self.dim), np.float32)
        return weighted_concat(self.learned.embed(image, faces), self.baseline.embed(image, faces), self.weight)
