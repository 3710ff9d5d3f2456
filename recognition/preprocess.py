"""Face cropping and normalisation, defined once for training, inference and export."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from .faces import Box


def expand_box(box: Box, margin: float) -> tuple[float, float, float, float]:
    """Grow a box by `margin` times its size on every side, made square around its centre."""
    x1, y1, x2, y2 = box
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    side = max(x2 - x1, y2 - y1) * (1 + 2 * margin)
    return (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)


def crop_face(image: np.ndarray, box: Box, *, margin: float, size: int) -> np.ndarray:
    """Square crop of `size`² pixels around `box` grown by `margin`; outside the image is edge-replicated.

    A square window keeps the aspect ratio, so a face is never stretched.
    """
    x1, y1, x2, y2 = expand_box(box, margin)
    side = max(x2 - x1, 1.0)
    scale = size / side
    # Affine map from the window to the output: subpixel-exact and handles windows outside the image.
    matrix = np.array([[scale, 0.0, -x1 * scale], [0.0, scale, -y1 * scale]], dtype=np.float64)
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return cv2.warpAffine(image, matrix, (size, size), flags=interpolation, borderMode=cv2.BORDER_REPLICATE)


def face_box_in_crop(box: Box, *, margin: float, size: int) -> tuple[float, float, float, float]:
    """Where `box` lies inside `crop_face(image, box, margin=margin, size=size)`: the inverse of the
    crop's window, so a stored crop can be re-embedded without the original picture."""
    x1, y1, x2, y2 = box
    w1, h1, w2, h2 = expand_box(box, margin)
    scale = size / max(w2 - w1, 1.0)
    return ((x1 - w1) * scale, (y1 - h1) * scale, (x2 - w1) * scale, (y2 - h1) * scale)


def to_tensor_batch(crops: Sequence[np.ndarray], mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """Stack RGB uint8 crops into a float32 NCHW batch normalised by `mean` and `std` (0-1 scale)."""
    batch = np.stack(crops).astype(np.float32) / 255.0
    batch = (batch - np.asarray(mean, dtype=np.float32)) / np.asarray(std, dtype=np.float32)
    return np.ascontiguousarray(batch.transpose(0, 3, 1, 2))


def l2_normalize(vectors: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.maximum(norms, eps)
