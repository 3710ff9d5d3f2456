"""A learned projection (an MLP head) of the training-free baseline descriptor, optionally fused with it.

The checkpoint (`recognition.checkpoints`, kind `embedder`, arch `baseline-projection`) holds
`state_dict = {"mean": (d,), "matrix": (d, k)}` (optionally `"bias": (k,)` and a second layer
`"matrix2": (k, m), "bias2": (m,)` after a ReLU: `kaobot train descriptor-head`) and
`meta = {"base": <baseline model id>, "dim": …, "fusion_weight": w or absent}`. A face's projected
vector is `mlp_forward`: the baseline's colour-layout and shape histograms, centred and mapped by
layers fitted on training characters (`kaobot train descriptor-head`, ArcFace) so that differences
between characters count more than differences between pictures of one character.

With a `fusion_weight` w the embedding is `[√w · projected, √(1−w) · baseline]`
(`base.weighted_concat`), so cosine = w · cos(projected) + (1−w) · cos(baseline); the weight is
part of the checkpoint and of its model id, so one file names the whole embedder.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..checkpoints import load_checkpoint
from ..errors import ModelFileError
from ..faces import Face
from ..onnx_models import load_npz_twin
from ..preprocess import l2_normalize
from .base import check_fusion_weight, weighted_concat
from .baseline import BaselineEmbedder

ARCH = "baseline-projection"
LAYERS = ("mean", "matrix", "bias", "matrix2", "bias2")


def mlp_forward(descriptors: np.ndarray, weights: dict[str, np.ndarray]) -> np.ndarray:
    """Unit vectors `normalise(((x − mean) @ matrix + bias) [→ ReLU → @ matrix2 + bias2])` of
    descriptors (n, d); the bias and the second layer are optional."""
    z = (descriptors - weights["mean"]) @ weights["matrix"]
    if "bias" in weights:
        z = z + weights["bias"]
    if "matrix2" in weights:
        z = np.maximum(z, 0.0) @ weights["matrix2"] + weights["bias2"]
    return l2_normalize(z.astype(np.float32))


def _float32(value) -> np.ndarray:
    """A weight as float32 numpy: a torch tensor (checkpoint) or an array (`.npz` twin)."""
    return np.asarray(value.float().numpy() if hasattr(value, "float") else value, np.float32)


class ProjectedEmbedder:
    """Baseline descriptor → (x − mean) @ matrix → unit vector (fused with the descriptor when the
    checkpoint has a fusion weight)."""

    def __init__(self, checkpoint: str | Path) -> None:
        payload = load_npz_twin(checkpoint, "embedder") or load_checkpoint(checkpoint, kind="embedder")
        self.base = BaselineEmbedder()
        try:
            if payload["arch"] != ARCH:
                raise ValueError(f"arch is {payload['arch']!r}, expected {ARCH!r}")
            if payload["meta"]["base"] != self.base.model_id:
                raise ValueError(f"fitted on {payload['meta']['base']!r}, this kaobot has {self.base.model_id!r}")
            state = payload["state_dict"]
            self.weights = {k: _float32(state[k]) for k in LAYERS if k in state}
            self.mean, self.matrix = self.weights["mean"], self.weights["matrix"]
            if self.mean.shape != (self.base.dim,) or self.matrix.shape[0] != self.base.dim:
                raise ValueError(f"shapes {self.mean.shape}, {self.matrix.shape} do not fit dim {self.base.dim}")
            out = self.matrix.shape[1]
            if "matrix2" in self.weights:
                out = self.weights["matrix2"].shape[1]
                if self.weights["matrix2"].shape[0] != self.matrix.shape[1] or self.weights["bias2"].shape != (out,):
                    raise ValueError("second layer shapes do not fit the first")
            # A wrong size fails here, not at the first face.
            mlp_forward(np.zeros((1, self.base.dim), np.float32), self.weights)
            weight = payload["meta"].get("fusion_weight")
            self.fusion_weight = None if weight is None else check_fusion_weight(weight)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ModelFileError(f"model file {checkpoint} is not a usable baseline projection: {exc}") from exc
        self.dim = int(out) + (self.base.dim if self.fusion_weight is not None else 0)
        self.model_id = str(payload["model_id"])
        self.meta = payload["meta"]
        self.threshold = self.meta.get("threshold")

    def project(self, descriptors: np.ndarray) -> np.ndarray:
        """Unit vectors of baseline descriptors (n, base dim) → (n, dim), fused when configured so."""
        projected = mlp_forward(descriptors, self.weights)
        if self.fusion_weight is None:
            return projected
        return weighted_concat(projected, descriptors.astype(np.float32), self.fusion_weight)

    def embed(self, image: np.ndarray, faces: Sequence[Face]) -> np.ndarray:
        if not faces:
            return np.zeros((0, self.dim), np.float32)
        return self.project(self.base.embed(image, faces))
