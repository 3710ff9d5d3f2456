"""The original project's inference architecture, rebuilt for timing (random weights).

* Detector: a YOLOv5m-size network (CSP backbone, SPPF, PAN neck; width 0.75, depth 0.67,
  about 21M parameters) at 640 px letterboxed input, one class, followed by confidence filtering
  and NMS as YOLOv5 does.
* Embedder: FaceMobileNet on GREY 128×128 crops, 512-d output after BatchNorm1d.

Random weights give the same arithmetic as trained ones, so the timings stand for the original
pipeline; the outputs mean nothing and are not used for accuracy.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import torch
from torch import nn

from recognition.embed.nets import MobileFaceNet
from recognition.faces import Face, clip_box


def _conv(c1: int, c2: int, k: int = 1, s: int = 1, p: int | None = None) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c1, c2, k, s, k // 2 if p is None else p, bias=False), nn.BatchNorm2d(c2), nn.SiLU())


class _Bottleneck(nn.Module):
    def __init__(self, c: int, shortcut: bool) -> None:
        super().__init__()
        self.body = nn.Sequential(_conv(c, c, 1), _conv(c, c, 3))
        self.add = shortcut

    def forward(self, x):
        return x + self.body(x) if self.add else self.body(x)


class _C3(nn.Module):
    def __init__(self, c1: int, c2: int, n: int, shortcut: bool = True) -> None:
        super().__init__()
        c = c2 // 2
        self.cv1, self.cv2, self.cv3 = _conv(c1, c), _conv(c1, c), _conv(2 * c, c2)
        self.m = nn.Sequential(*[_Bottleneck(c, shortcut) for _ in range(n)])

    def forward(self, x):
        return self.cv3(torch.cat([self.m(self.cv1(x)), self.cv2(x)], 1))


class _SPPF(nn.Module):
    def __init__(self, c1: int, c2: int) -> None:
        super().__init__()
        c = c1 // 2
        self.cv1, self.cv2, self.pool = _conv(c1, c), _conv(4 * c, c2), nn.MaxPool2d(5, 1, 2)

    def forward(self, x):
        x = self.cv1(x)
        y1 = self.pool(x)
        y2 = self.pool(y1)
        return self.cv2(torch.cat([x, y1, y2, self.pool(y2)], 1))


class YOLOv5mLike(nn.Module):
    """YOLOv5m layout (48-96-192-384-768 channels, C3 depths 2-4-6-2), one class, 3 anchors."""

    def __init__(self, classes: int = 1) -> None:
        super().__init__()
        out = 3 * (5 + classes)
        self.stem = nn.Sequential(
            _conv(3, 48, 6, 2, 2), _conv(48, 96, 3, 2), _C3(96, 96, 2), _conv(96, 192, 3, 2), _C3(192, 192, 4)
        )
        self.p4 = nn.Sequential(_conv(192, 384, 3, 2), _C3(384, 384, 6))
        self.p5 = nn.Sequential(_conv(384, 768, 3, 2), _C3(768, 768, 2), _SPPF(768, 768))
        self.h1, self.c4 = _conv(768, 384), _C3(768, 384, 2, False)
        self.h2, self.c3 = _conv(384, 192), _C3(384, 192, 2, False)
        self.d3, self.n4 = _conv(192, 192, 3, 2), _C3(384, 384, 2, False)
        self.d4, self.n5 = _conv(384, 384, 3, 2), _C3(768, 768, 2, False)
        self.heads = nn.ModuleList([nn.Conv2d(c, out, 1) for c in (192, 384, 768)])
        self.up = nn.Upsample(scale_factor=2, mode="nearest")

    def forward(self, x):
        p3 = self.stem(x)
        p4 = self.p4(p3)
        p5 = self.p5(p4)
        h1 = self.h1(p5)
        h2 = self.h2(self.c4(torch.cat([self.up(h1), p4], 1)))
        o3 = self.c3(torch.cat([self.up(h2), p3], 1))
        o4 = self.n4(torch.cat([self.d3(o3), h2], 1))
        o5 = self.n5(torch.cat([self.d4(o4), h1], 1))
        outs = []
        for head, feat, stride in zip(self.heads, (o3, o4, o5), (8, 16, 32)):
            b, _, h, w = feat.shape
            y = head(feat).view(b, 3, -1, h, w).permute(0, 1, 3, 4, 2).sigmoid()
            gy, gx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
            xy = (y[..., :2] * 2 - 0.5 + torch.stack([gx, gy], -1)) * stride
            wh = (y[..., 2:4] * 2) ** 2 * stride * 4
            outs.append(torch.cat([xy, wh, y[..., 4:]], -1).reshape(b, -1, y.shape[-1]))
        return torch.cat(outs, 1)


class OriginalDetector:
    """YOLOv5m-like detector at 640 px with YOLOv5's post-processing (conf 0.25, NMS 0.45)."""

    model_id = "original-yolov5m-640-random"

    def __init__(self, size: int = 640, max_candidates: int = 3000) -> None:
        torch.manual_seed(0)
        self.net = YOLOv5mLike().eval()
        self.size = size
        self.max_candidates = max_candidates

    def settings(self) -> dict:
        return {"size": self.size, "max_candidates": self.max_candidates}

    def detect(self, image: np.ndarray) -> list[Face]:
        from torchvision.ops import nms

        h, w = image.shape[:2]
        scale = self.size / max(h, w)
        resized = cv2.resize(image, (round(w * scale), round(h * scale)))
        canvas = np.full((self.size, self.size, 3), 114, np.uint8)
        canvas[: resized.shape[0], : resized.shape[1]] = resized
        x = torch.from_numpy(canvas.transpose(2, 0, 1)).float()[None] / 255
        with torch.inference_mode():
            pred = self.net(x)[0]
            conf = pred[:, 4] * pred[:, 5]
            keep = conf > 0.25
            pred, conf = pred[keep], conf[keep]
            top = conf.topk(min(self.max_candidates, len(conf))).indices
            pred, conf = pred[top], conf[top]
            boxes = torch.cat([pred[:, :2] - pred[:, 2:4] / 2, pred[:, :2] + pred[:, 2:4] / 2], 1)
            kept = nms(boxes, conf, 0.45)[:100]
        return [Face(clip_box(tuple((boxes[i] / scale).tolist()), w, h), float(conf[i])) for i in kept]


class OriginalEmbedder:
    """FaceMobileNet on grey 128×128 crops of the face box (Normalize 0.5/0.5), 512-d."""

    model_id = "original-facemobilenet-grey128-random"
    dim = 512

    def __init__(self) -> None:
        torch.manual_seed(0)
        self.net = MobileFaceNet(dim=512, in_channels=1).eval()

    def embed(self, image: np.ndarray, faces: Sequence[Face]) -> np.ndarray:
        if not faces:
            return np.zeros((0, self.dim), np.float32)
        grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        crops = []
        for f in faces:
            x1, y1, x2, y2 = f.box
            crop = grey[y1 : max(y2, y1 + 1), x1 : max(x2, x1 + 1)]
            crops.append(cv2.resize(crop, (128, 128)))
        x = (torch.from_numpy(np.stack(crops)).float()[:, None] / 255 - 0.5) / 0.5
        with torch.inference_mode():
            out = self.net(x).numpy()
        return out / np.linalg.norm(out, axis=1, keepdims=True)
