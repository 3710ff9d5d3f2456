"""Input sizing and score thresholds by face size, shared by the torch and ONNX detector backends."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..faces import Face

SIZE_EDGES = (24.0, 48.0, 96.0)  # face sides (√(w·h)) that split `size_thresholds`' four buckets


def operating_point(source: Any) -> dict[str, Any]:
    """Input sizing and score thresholds of a network detector (torch, ONNX), read from its settings
    (`DetectorSettings`) or from the detector itself: what both pass on and report."""
    return {
        "threshold": source.threshold,
        "min_size": source.min_size,
        "input_side": source.input_side,
        "max_upscale": source.max_upscale,
        "size_thresholds": list(source.size_thresholds),
    }


def size_bucket(side: float) -> int:
    """Index of the `SIZE_EDGES` bucket a face side falls in (0: under 24 px … 3: from 96 px)."""
    return int(np.searchsorted(SIZE_EDGES, side, side="right"))


def input_long_side(height: int, width: int, input_side: int, max_upscale: float) -> int:
    """The longer side a picture is resized to so that it holds about `input_side`² pixels (its
    aspect kept), enlarged at most `max_upscale` times."""
    scale = min(max_upscale, input_side / float(np.sqrt(height * width)))
    return max(1, int(round(max(height, width) * scale)))


def check_sizing(input_side: int | None, max_upscale: float, size_thresholds: Sequence[float]) -> tuple[float, ...]:
    """Validate the sizing settings; the size thresholds as a tuple (empty: none)."""
    if input_side is not None and input_side < 32:
        raise ConfigError(f"detector.input_side must be at least 32 pixels (or null), got {input_side}")
    if max_upscale < 1:
        raise ConfigError(f"detector.max_upscale must be at least 1, got {max_upscale}")
    if size_thresholds and len(size_thresholds) != len(SIZE_EDGES) + 1:
        raise ConfigError(
            f"detector.size_thresholds must hold {len(SIZE_EDGES) + 1} scores (faces < 24, 24–48, 48–96, ≥ 96 px) "
            f"or none, got {list(size_thresholds)}"
        )
    return tuple(float(t) for t in size_thresholds)


def threshold_for(side: float, threshold: float, size_thresholds: Sequence[float]) -> float:
    """The score a face of this side needs: its bucket's in `size_thresholds`, else `threshold`."""
    return size_thresholds[size_bucket(side)] if size_thresholds else threshold


def keeps(face: Face, threshold: float, size_thresholds: Sequence[float], min_size: int) -> bool:
    """Whether a detected face reaches the score its size needs and has both sides of `min_size` or more."""
    needed = threshold_for(np.sqrt(face.area), threshold, size_thresholds)
    return face.score >= needed and min(face.width, face.height) >= min_size
