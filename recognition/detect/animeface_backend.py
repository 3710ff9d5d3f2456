"""Detector backend on `animeface` (nagadomi's pretrained anime face detector, offline)."""

from __future__ import annotations

import logging
from typing import Any

import cv2
import numpy as np
from PIL import Image

from ..errors import BackendUnavailable
from ..faces import Face, FaceParts, clip_box

log = logging.getLogger(__name__)

INSTALL_HINT = (
    "the 'animeface' package is not installed (it has wheels for Linux x86_64 and macOS arm64 only); "
    "install it with `pip install animeface 'pillow<12'`, or set detector.backend to 'torch' with a "
    "trained checkpoint in config.yaml"
)


def _load_animeface():
    try:
        import animeface
    except ImportError as exc:
        raise BackendUnavailable(INSTALL_HINT) from exc
    import PIL

    if int(PIL.__version__.split(".")[0]) >= 12:
        raise BackendUnavailable(f"animeface finds no faces with Pillow {PIL.__version__}; install 'pillow<12'")
    return animeface


class AnimefaceDetector:
    """animeface with a likelihood threshold, a minimum face size, padding and a size cap.

    * `pad`: a border of `pad` × the longer side is added around the picture (edge colours), so
      that tight face crops, which animeface misses, are found.
    * `max_side`: larger pictures are scaled down first (animeface's cost grows with the pixels).
    * `pad_below`: pictures up to this longer side are always padded; larger ones only when a
      first, unpadded search finds nothing.
    """

    model_id = "animeface-2"

    def __init__(
        self, threshold: float = 0.5, min_size: int = 24, pad: float = 0.25, max_side: int = 1024, pad_below: int = 640
    ):
        self._animeface = _load_animeface()
        self.threshold = threshold
        self.min_size = min_size
        self.pad = pad
        self.max_side = max_side
        self.pad_below = pad_below

    def settings(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            "min_size": self.min_size,
            "pad": self.pad,
            "max_side": self.max_side,
            "pad_below": self.pad_below,
        }

    def detect(self, image: np.ndarray) -> list[Face]:
        """Small pictures (longer side ≤ `pad_below`) are always padded; larger ones are searched as
        they are and padded only when nothing was found (padding costs (1 + 2·pad)² the pixels)."""
        height, width = image.shape[:2]
        scale = min(1.0, self.max_side / max(height, width))
        work = image
        if scale < 1.0:
            work = cv2.resize(
                image, (max(1, round(width * scale)), max(1, round(height * scale))), interpolation=cv2.INTER_AREA
            )
        border = int(round(self.pad * max(work.shape[:2])))
        if max(height, width) > self.pad_below:
            faces = self._detect(work, 0, scale, width, height)
            if faces or not border:
                return faces
        return self._detect(
            cv2.copyMakeBorder(work, border, border, border, border, cv2.BORDER_REPLICATE), border, scale, width, height
        )

    def _detect(self, work: np.ndarray, border: int, scale: float, width: int, height: int) -> list[Face]:
        faces = []
        for found in self._animeface.detect(Image.fromarray(work)):
            if found.likelihood < self.threshold:
                continue
            face = self._convert(found, border, scale, width, height)
            if min(face.width, face.height) >= self.min_size:
                faces.append(face)
        return faces

    @staticmethod
    def _convert(found, border: int, scale: float, width: int, height: int) -> Face:
        def box(pos) -> tuple[int, int, int, int]:
            x1 = (pos.x - border) / scale
            y1 = (pos.y - border) / scale
            return clip_box((x1, y1, x1 + pos.width / scale, y1 + pos.height / scale), width, height)

        def rgb(color) -> tuple[int, int, int]:
            return (int(color.r), int(color.g), int(color.b))

        parts = FaceParts(
            hair_color=rgb(found.hair.color),
            skin_color=rgb(found.skin.color),
            left_eye=box(found.left_eye.pos),
            right_eye=box(found.right_eye.pos),
            left_eye_color=rgb(found.left_eye.color),
            right_eye_color=rgb(found.right_eye.color),
        )
        return Face(box=box(found.face.pos), score=float(found.likelihood), parts=parts)
