"""Detector backend for YOLOv5 / YOLOv8 face detectors exported to ONNX (onnxruntime).

The original project's users trained a YOLOv5 on iCartoonFace; Ultralytics exports either layout:

* YOLOv5: output (1, N, 5 + classes): cx, cy, w, h, objectness, class scores;
* YOLOv8 (and later): output (1, 4 + classes, N): cx, cy, w, h, class scores (no objectness).

The layout is told apart by which axis is the long one (N candidates ≫ channels). Boxes are in
the letterboxed input's pixels; the picture is letterboxed (scaled to fit, centred, padded with
grey 114, as Ultralytics does) to the model's input size (from the ONNX input shape; 640 when the
shape is dynamic). The face score is class 0's (times objectness for YOLOv5); non-maximum
suppression uses torchvision's `nms`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..errors import ModelFileError
from ..faces import Face, clip_box


class YoloOnnxDetector:
    """Runs a YOLOv5/YOLOv8 ONNX export; keeps faces above `threshold` and `min_size`."""

    def __init__(self, model: str | Path, threshold: float = 0.5, min_size: int = 16, nms_iou: float = 0.5,
                 input_size: int | None = None) -> None:
        import onnxruntime as ort

        model = Path(model)
        if not model.is_file():
            raise ModelFileError(f"model file not found: {model}")
        try:
            self.session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ModelFileError(f"model file {model} is not a valid ONNX model: {exc}") from exc
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        shape = inp.shape
        fixed = [d for d in shape[2:4] if isinstance(d, int)]
        self.input_size = input_size or (fixed[0] if len(fixed) == 2 and fixed[0] == fixed[1] else 640)
        self.threshold, self.min_size, self.nms_iou = threshold, min_size, nms_iou
        self.model_id = f"yolo-onnx-{model.stem}"

    def settings(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "min_size": self.min_size, "nms_iou": self.nms_iou, "input_size": self.input_size}

    def _letterbox(self, image: np.ndarray) -> tuple[np.ndarray, float, float, float]:
        h, w = image.shape[:2]
        size = self.input_size
        scale = min(size / h, size / w)
        nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
        resized = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR)
        px, py = (size - nw) / 2, (size - nh) / 2
        canvas = np.full((size, size, 3), 114, np.uint8)
        top, left = int(round(py - 0.1)), int(round(px - 0.1))
        canvas[top : top + nh, left : left + nw] = resized
        batch = canvas.transpose(2, 0, 1)[None].astype(np.float32) / 255.0
        return np.ascontiguousarray(batch), scale, left, top

    def decode(self, output: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(boxes x1y1x2y2, scores) in letterbox pixels from a raw YOLO output."""
        out = np.asarray(output, np.float32)
        if out.ndim == 3:
            out = out[0]
        if out.ndim != 2:
            raise ModelFileError(f"unexpected YOLO output shape {output.shape}")
        if out.shape[0] < out.shape[1]:  # YOLOv8: (4 + classes, N)
            out = out.T
            scores = out[:, 4]
        else:  # YOLOv5: (N, 5 + classes)
            scores = out[:, 4] * (out[:, 5] if out.shape[1] > 5 else 1.0)
        cx, cy, w, h = out[:, 0], out[:, 1], out[:, 2], out[:, 3]
        return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1), scores

    def detect(self, image: np.ndarray) -> list[Face]:
        import torch
        from torchvision.ops import nms

        batch, scale, left, top = self._letterbox(image)
        boxes, scores = self.decode(self.session.run(None, {self.input_name: batch})[0])
        keep = scores >= self.threshold
        boxes, scores = boxes[keep], scores[keep]
        if len(boxes):
            order = nms(torch.from_numpy(boxes), torch.from_numpy(scores), self.nms_iou).numpy()
            boxes, scores = boxes[order], scores[order]
        height, width = image.shape[:2]
        faces = []
        for (x1, y1, x2, y2), score in zip(boxes, scores):
            box = ((x1 - left) / scale, (y1 - top) / scale, (x2 - left) / scale, (y2 - top) / scale)
            face = Face(box=clip_box(box, width, height), score=float(score))
            if min(face.width, face.height) >= self.min_size:
                faces.append(face)
        return faces
