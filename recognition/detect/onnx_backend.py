"""Detector backend that runs a `kaobot export onnx` detector with onnxruntime.

The export is the whole torchvision model except its resize (`training/export.py`): `prepare`
resizes the picture exactly as torchvision's transform does for `TorchDetector` (scale =
min(min_size / shorter side, max_size / longer side), bilinear, output side = floor(side × scale)),
the graph normalises, pads and detects, and the boxes are mapped back to the picture's pixels.
`threshold` and `min_size` apply as for torch. The resize settings travel in the file's `resize`
metadata; `input_side`/`max_upscale` and `size_thresholds` override them as for torch
(`recognition.detect.sizing`; tiling is torch-only).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..errors import ModelFileError
from ..faces import Face, clip_box
from ..onnx_models import OnnxModel, open_onnx_model
from .sizing import check_sizing, input_long_side, keeps, operating_point


def prepare(image: np.ndarray, resize: Mapping[str, Any]) -> tuple[np.ndarray, float, float]:
    """The (3, h, w) float32 0–1 input for an RGB uint8 `image`, and the x, y scales applied to it.

    `resize`: torchvision's `min_size` and `max_size`. The picture is resized as a float image, as
    torchvision does (after its normalisation, which commutes with bilinear interpolation).
    """
    h, w = image.shape[:2]
    scale = min(resize["min_size"] / min(h, w), resize["max_size"] / max(h, w))
    rh, rw = max(1, math.floor(h * scale)), max(1, math.floor(w * scale))
    resized = cv2.resize(image.astype(np.float32) / 255.0, (rw, rh), interpolation=cv2.INTER_LINEAR)
    return np.ascontiguousarray(resized.reshape(rh, rw, 3).transpose(2, 0, 1)), rw / w, rh / h


class OnnxDetector:
    """Runs an exported kaobot detector (a file, or an opened twin); keeps faces above `threshold`
    and `min_size`."""

    def __init__(
        self,
        model: str | Path | OnnxModel,
        device: str = "auto",
        threshold: float = 0.5,
        min_size: int = 16,
        input_side: int | None = None,
        max_upscale: float = 2.0,
        size_thresholds: Sequence[float] = (),
    ) -> None:
        self.size_thresholds = check_sizing(input_side, max_upscale, size_thresholds)
        self.input_side, self.max_upscale = input_side, max_upscale
        onnx = model if isinstance(model, OnnxModel) else open_onnx_model(model, "detector", device)
        resize = onnx.json_prop("resize")
        try:
            self.resize = {"min_size": float(resize["min_size"]), "max_size": float(resize["max_size"])}
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFileError(f"model file {model} has invalid resize metadata {resize!r}") from exc
        self.session, self.input_name = onnx.session, onnx.session.get_inputs()[0].name
        self.model_id = onnx.model_id
        self.meta = onnx.json_prop("meta")
        self.threshold, self.min_size = threshold, min_size

    def settings(self) -> dict[str, Any]:
        return operating_point(self)

    def detect(self, image: np.ndarray) -> list[Face]:
        resize = self.resize
        if self.input_side is not None:  # as TorchDetector: about input_side² pixels (recognition.detect.sizing)
            side = input_long_side(*image.shape[:2], self.input_side, self.max_upscale)
            resize = {"min_size": float(side), "max_size": float(side)}
        x, sx, sy = prepare(image, resize)
        boxes, scores = self.session.run(None, {self.input_name: x})[:2]
        height, width = image.shape[:2]
        faces = (
            Face(box=clip_box((x1 / sx, y1 / sy, x2 / sx, y2 / sy), width, height), score=float(score))
            for (x1, y1, x2, y2), score in zip(boxes.tolist(), scores.tolist())
        )
        return [f for f in faces if keeps(f, self.threshold, self.size_thresholds, self.min_size)]
