"""The embedder interface."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from ..faces import Face


@runtime_checkable
class Embedder(Protocol):
    """Turns faces of an RGB image into L2-normalised vectors.

    `model_id` names the exact model: vectors of different model ids are never compared.
    """

    model_id: str
    dim: int

    def embed(self, image: np.ndarray, faces: Sequence[Face]) -> np.ndarray:
        """Return float32 vectors of shape (len(faces), dim), each of unit length."""
        ...


DEFAULT_THRESHOLD = 0.655  # for an embedder whose model names no threshold (the head ⊕ baseline's, docs/models.md)


def model_threshold(embedder: Embedder) -> float:
    """The similarity threshold an embedder's model file carries (calibrated on its training
    characters), else `DEFAULT_THRESHOLD`; `recognition.threshold` overrides it."""
    value = getattr(embedder, "threshold", None)
    return DEFAULT_THRESHOLD if value is None else float(value)


def check_fusion_weight(weight: float) -> float:
    """`weight` as a float, or ValueError unless 0 < weight < 1."""
    if not 0.0 < float(weight) < 1.0:
        raise ValueError(f"fusion weight must lie strictly between 0 and 1, not {weight}")
    return float(weight)


def weighted_concat(first: np.ndarray, second: np.ndarray, weight: float) -> np.ndarray:
    """`[√w · first, √(1−w) · second]` of two sets of unit vectors (rows), itself of unit rows.

    The cosine similarity of two such vectors is `w · cos(first) + (1−w) · cos(second)`: the one way
    every fused embedder (`fusion`, `projected` with a fusion weight) combines two descriptors.
    """
    weight = check_fusion_weight(weight)
    return np.concatenate([first * np.sqrt(weight), second * np.sqrt(1.0 - weight)], axis=1).astype(np.float32)
