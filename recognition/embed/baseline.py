"""A training-free embedder: colour layout around the face plus coarse shape.

An anime character is recognised mostly by colours (hair, eyes, skin, clothes at the neck) and
their layout relative to the face, plus the coarse shape of the hair. The descriptor is built from
the face box alone (and the detector's eye boxes when it gives them):

* soft HSV histograms (hue × saturation × value, with a separate grey-level histogram for
  unsaturated pixels) over regions defined relative to the face box: the hair ring around and
  above the face, the fringe in the upper face, the eye band, the lower face, the area below the
  chin;
* the eyes: a hue histogram inside the detector's eye boxes (or the eye band when absent);
* coarse shape: a HOG descriptor of the grey crop around the face.

Each block is Hellinger-mapped (square root of an L1-normalised histogram), L2-normalised and
weighted; the concatenation is L2-normalised. Deterministic and weight-free.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from ..faces import Box, Face
from ..preprocess import crop_face, l2_normalize

CROP_SIZE = 96
CROP_MARGIN = 0.5  # the crop spans the face box plus half its size on every side
# In crop coordinates the face box is [FACE_LO, FACE_HI] on both axes.
FACE_LO = CROP_MARGIN / (1 + 2 * CROP_MARGIN)
FACE_HI = 1 - FACE_LO


@dataclass(frozen=True)
class _Region:
    name: str
    # (x1, y1, x2, y2) in units of the face box: 0..1 is the face, negative/above 1 outside.
    rect: tuple[float, float, float, float]
    weight: float


REGIONS: tuple[_Region, ...] = (
    _Region("hair_top", (-0.3, -0.5, 1.3, 0.05), 1.0),
    _Region("hair_left", (-0.5, 0.0, 0.05, 1.0), 0.7),
    _Region("hair_right", (0.95, 0.0, 1.5, 1.0), 0.7),
    _Region("fringe", (0.1, 0.0, 0.9, 0.35), 1.0),
    _Region("eyes", (0.1, 0.35, 0.9, 0.65), 0.8),
    _Region("lower_face", (0.2, 0.65, 0.8, 1.0), 0.5),
    _Region("below", (0.0, 1.0, 1.0, 1.5), 0.5),
)

HUE_BINS, SAT_BINS, VAL_BINS, GREY_BINS = 12, 3, 3, 4
HOG_WEIGHT = 0.6
EYE_WEIGHT = 0.6

HOG_CELL, HOG_BINS = 8, 9


class BaselineEmbedder:
    """Colour-layout + HOG descriptor (see module docstring); needs no weights."""

    model_id = "baseline-colour-layout-v1"
    threshold = 0.76  # open-set optimum behind the default detector (docs/models.md)

    def __init__(self) -> None:
        self.dim = len(self._embed_one(np.zeros((64, 64, 3), np.uint8), Face((16, 16, 48, 48), 1.0)))

    def embed(self, image: np.ndarray, faces: Sequence[Face]) -> np.ndarray:
        """One L2-normalised vector per face, shape (len(faces), dim)."""
        if not faces:
            return np.zeros((0, self.dim), np.float32)
        return np.stack([self._embed_one(image, face) for face in faces])

    def _embed_one(self, image: np.ndarray, face: Face) -> np.ndarray:
        crop = crop_face(image, face.box, margin=CROP_MARGIN, size=CROP_SIZE)
        hsv = cv2.cvtColor(crop, cv2.COLOR_RGB2HSV_FULL).astype(np.float32) / 255.0
        blocks = [_colour_histogram(_region(hsv, r.rect)) * r.weight for r in REGIONS]
        blocks.append(self._eye_hue(image, face) * EYE_WEIGHT)
        grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
        inner = cv2.resize(grey[CROP_SIZE // 8 : -CROP_SIZE // 8, CROP_SIZE // 8 : -CROP_SIZE // 8], (48, 48))
        blocks.append(_gradient_histograms(inner) * HOG_WEIGHT)
        return l2_normalize(np.concatenate(blocks))

    @staticmethod
    def _eye_hue(image: np.ndarray, face: Face) -> np.ndarray:
        eyes = [b for b in (face.parts.left_eye, face.parts.right_eye) if b and _area(b) > 4]
        if not eyes:
            x1, y1, x2, y2 = face.box
            h = y2 - y1
            eyes = [(x1, int(y1 + 0.4 * h), x2, int(y1 + 0.6 * h))]
        pixels = [image[b[1] : b[3], b[0] : b[2]].reshape(-1, 3) for b in eyes]
        pixels = np.concatenate(pixels) if pixels else np.zeros((0, 3), np.uint8)
        if len(pixels) == 0:
            return np.zeros(HUE_BINS + GREY_BINS, np.float32)
        hsv = cv2.cvtColor(pixels.reshape(-1, 1, 3), cv2.COLOR_RGB2HSV_FULL).reshape(-1, 3).astype(np.float32) / 255.0
        return _colour_histogram(hsv, sat_bins=1, val_bins=1)


def _gradient_histograms(grey: np.ndarray) -> np.ndarray:
    """HOG-like shape descriptor: per-cell histograms of unsigned gradient orientation."""
    g = grey.astype(np.float32)
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=1)
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=1)
    magnitude, angle = cv2.cartToPolar(gx, gy)
    orientation = np.minimum((np.mod(angle, np.pi) / np.pi * HOG_BINS).astype(int), HOG_BINS - 1)
    cells = g.shape[0] // HOG_CELL
    cell_index = (np.arange(g.shape[0]) // HOG_CELL)[:, None] * cells + (np.arange(g.shape[1]) // HOG_CELL)[None, :]
    hist = np.zeros(cells * cells * HOG_BINS, np.float64)
    np.add.at(hist, (cell_index * HOG_BINS + orientation).ravel(), magnitude.ravel())
    hist = hist.reshape(cells * cells, HOG_BINS)
    hist /= np.linalg.norm(hist, axis=1, keepdims=True) + 1e-6
    return l2_normalize(np.sqrt(hist.ravel()).astype(np.float32))


def _area(box: Box) -> int:
    return max(0, box[2] - box[0]) * max(0, box[3] - box[1])


def _region(hsv: np.ndarray, rect: tuple[float, float, float, float]) -> np.ndarray:
    """Pixels of a face-relative rectangle of the crop, as an (N, 3) HSV array."""
    size = hsv.shape[0]
    span = FACE_HI - FACE_LO

    def to_px(v: float) -> int:
        return int(round(np.clip(FACE_LO + v * span, 0, 1) * size))

    x1, y1, x2, y2 = (to_px(v) for v in rect)
    return hsv[y1:y2, x1:x2].reshape(-1, 3)


def _colour_histogram(hsv: np.ndarray, sat_bins: int = SAT_BINS, val_bins: int = VAL_BINS) -> np.ndarray:
    """Soft hue×sat×val histogram for coloured pixels plus a value histogram for grey ones.

    Hue is circular and binned softly (linear interpolation between neighbouring bins), so a small
    hue shift between two drawings of the same hair moves mass gradually.
    """
    n_colour = HUE_BINS * sat_bins * val_bins
    hist = np.zeros(n_colour + GREY_BINS, np.float64)
    if len(hsv):
        h, s, v = hsv[:, 0], hsv[:, 1], hsv[:, 2]
        coloured = (s > 0.2) & (v > 0.15)
        # Coloured pixels: soft circular hue.
        hc = h[coloured] * HUE_BINS - 0.5
        lo = np.floor(hc).astype(int)
        frac = hc - lo
        s_bin = np.minimum(((s[coloured] - 0.2) / 0.8 * sat_bins).astype(int), sat_bins - 1)
        v_bin = np.minimum(((v[coloured] - 0.15) / 0.85 * val_bins).astype(int), val_bins - 1)
        base = s_bin * val_bins + v_bin
        for offset, w in ((0, 1 - frac), (1, frac)):
            hue_bin = (lo + offset) % HUE_BINS
            np.add.at(hist, hue_bin * sat_bins * val_bins + base, w)
        grey_bin = np.minimum((v[~coloured] * GREY_BINS).astype(int), GREY_BINS - 1)
        np.add.at(hist, n_colour + grey_bin, 1.0)
        hist /= hist.sum()
    return l2_normalize(np.sqrt(hist).astype(np.float32))
