"""Numbered boxes on a picture. Names go in the text of the reply, so any script shows correctly."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from .faces import Box

KNOWN = (46, 204, 113)  # green: recognised
UNKNOWN = (241, 196, 15)  # amber: face found, character unknown


def draw_numbered_boxes(image: np.ndarray, boxes: Sequence[Box], known: Sequence[bool] | None = None) -> np.ndarray:
    """Return a copy of an RGB image with box i labelled `i + 1`."""
    out = np.ascontiguousarray(image.copy())
    height, width = out.shape[:2]
    thickness = max(2, round(max(height, width) / 400))
    font_scale = max(0.6, max(height, width) / 900)
    known = list(known) if known is not None else [True] * len(boxes)
    for number, (box, is_known) in enumerate(zip(boxes, known), start=1):
        colour = KNOWN if is_known else UNKNOWN
        x1, y1, x2, y2 = box
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, thickness, cv2.LINE_AA)
        label = str(number)
        (tw, th), baseline = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, font_scale, thickness)
        pad = thickness + 2
        top = y1 - th - baseline - 2 * pad
        if top < 0:  # no room above the box: put the label inside it
            top = y1
        cv2.rectangle(out, (x1, top), (x1 + tw + 2 * pad, top + th + baseline + 2 * pad), colour, -1)
        cv2.putText(
            out,
            label,
            (x1 + pad, top + pad + th),
            cv2.FONT_HERSHEY_SIMPLEX,
            font_scale,
            (0, 0, 0),
            thickness,
            cv2.LINE_AA,
        )
    return out
