"""A fused embedder: a trained torch embedder and a descriptor embedder, concatenated.

Each part is a unit vector; the fused vector is `[√w · learned, √(1−w) · base]`
(`base.weighted_concat`), itself of unit length, so the cosine similarity of two fused vectors is
`w · cos(learned) + (1−w) · cos(base)`.

The base is the training-free baseline with `embedder.fusion_weight`, unless the checkpoint names its
own: `meta["fusion"] = {"with": "baseline" | <projected checkpoint, e.g. shipped:FILE>, "weight": w}`
(what `kaobot train fusion` writes, the weight chosen on training characters); then the file alone
names the whole embedder, and its `meta["threshold"]` is the embedder's threshold.
Its `model_id` names both parts and the weight, so galleries embedded with any other combination
are reported as stale (and re-embedded) rather than compared.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import ModelFileError
from ..faces import Face
from .base import Embedder, check_fusion_weight, weighted_concat
from .baseline import BaselineEmbedder
from .onnx_backend import network_embedder


def base_embedder(spec: str) -> Embedder:
    """The descriptor side of a fusion: `baseline`, or a projected checkpoint (path or shipped:FILE)."""
    if spec == "baseline":
        return BaselineEmbedder()
    from .projected import ProjectedEmbedder

    return ProjectedEmbedder(spec)


class FusionEmbedder:
    """Weighted concatenation of a network embedder (torch, or its ONNX twin) and a descriptor embedder (see the module docstring)."""

    def __init__(self, checkpoint: str | Path, weight: float = 0.5, device: str = "auto") -> None:
        self.learned = network_embedder(checkpoint, device=device)  # its ONNX twin when shipped with one
        fusion = self.learned.meta.get("fusion")
        try:
            base_spec = "baseline" if fusion is None else str(fusion["with"])
            weight = weight if fusion is None else fusion["weight"]
        except (KeyError, TypeError) as exc:
            raise ModelFileError(f"model file {checkpoint}: bad fusion metadata {fusion!r}") from exc
        self.base = base_embedder(base_spec)
        self.weight = check_fusion_weight(weight)
        self.threshold = self.learned.threshold if fusion is not None else None
        self.dim = self.learned.dim + self.base.dim
        self.model_id = f"fusion-w{self.weight:g}-{self.learned.model_id}+{self.base.model_id}"

    def embed(self, image: np.ndarray, faces: Sequence[Face]) -> np.ndarray:
        if not faces:
            return np.zeros((0, self.dim), np.float32)
        return weighted_concat(self.learned.embed(image, faces), self.base.embed(image, faces), self.weight)
