"""The detector interface."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..faces import Face


@runtime_checkable
class Detector(Protocol):
    """Finds faces in an RGB uint8 image; boxes are in that image's pixels."""

    model_id: str

    def detect(self, image: np.ndarray) -> list[Face]:
        """Return the faces found, in no particular order."""
        ...

    def settings(self) -> dict[str, Any]:
        """The settings that change which boxes `detect` returns: with `model_id` they name its
        output (caches of detected boxes key on both)."""
        ...
