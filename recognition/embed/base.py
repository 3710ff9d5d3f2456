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
