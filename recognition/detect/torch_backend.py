"""Detector backend that loads a kaobot detector checkpoint (a torchvision detection model).

Checkpoint (see `recognition.checkpoints`): `format: kaobot-detector`, `arch` and `arch_kwargs`
from `recognition.detect.nets` (input sizing, score and NMS thresholds live there), and `meta`
(free-form: training data, metrics). The network receives RGB floats on a 0–1 scale; it resizes
and normalises internally.

Input sizing at inference (`TorchDetector` arguments, `detector.*` settings):

* `input_side`: the picture is resized (up or down; enlarged at most `max_upscale` times) to about
  `input_side`² pixels, its aspect kept, so the cost is about the same for every picture and a
  wide picture is enlarged more than a square one; None keeps the checkpoint's own
  `min_size`/`max_size`.
* `tile`: pictures whose longer side exceeds `tile` pixels are also cut into overlapping square
  tiles of that side, each run at `input_side`; tiles and whole picture are merged by NMS
  (`recognition.detect.tiling`).
* `size_thresholds`: four score thresholds for faces of side (√(w·h)) under 24, 24–48, 48–96
  and from 96 px (`recognition.detect.sizing`); empty: `threshold` for every face.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..checkpoints import float_weights, load_checkpoint
from ..device import resolve_device
from ..errors import ConfigError, ModelFileError
from ..faces import Face, clip_box
from .sizing import check_sizing, input_long_side, keeps, operating_point
from .tiling import merge_detections, tile_grid


class TorchDetector:
    """Runs a trained detection network; keeps faces above `threshold` and `min_size`."""

    def __init__(
        self,
        checkpoint: str | Path,
        device: str = "auto",
        threshold: float = 0.5,
        min_size: int = 16,
        input_side: int | None = None,
        max_upscale: float = 2.0,
        tile: int | None = None,
        tile_overlap: float = 0.25,
        size_thresholds: list[float] | tuple[float, ...] = (),
    ) -> None:
        import torch

        from .nets import build_detection_net

        sizes = check_sizing(input_side, max_upscale, size_thresholds)
        if tile is not None and tile < 32:
            raise ConfigError(f"detector.tile must be at least 32 pixels (or null), got {tile}")
        if not 0 <= tile_overlap < 1:
            raise ConfigError(f"detector.tile_overlap must be in [0, 1), got {tile_overlap}")
        payload = load_checkpoint(checkpoint, kind="detector")
        try:
            net = build_detection_net(payload["arch"], **payload["arch_kwargs"])
            net.load_state_dict(float_weights(payload))
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise ModelFileError(f"model file {checkpoint} does not match its metadata: {exc}") from exc
        self.model_id = str(payload["model_id"])
        self.meta = payload["meta"]
        self.device = resolve_device(device)
        self.threshold = threshold
        self.min_size = min_size
        self.input_side = input_side
        self.max_upscale = max_upscale
        self.tile = tile
        self.tile_overlap = tile_overlap
        self.size_thresholds = sizes
        self.net = net.to(self.device).eval()
        self._own_sizes = (tuple(net.transform.min_size), int(net.transform.max_size))
        self._torch = torch

    def settings(self) -> dict[str, Any]:
        return operating_point(self) | {"tile": self.tile, "tile_overlap": self.tile_overlap}

    def detect_batch(self, images: list[np.ndarray]) -> list[list[Face]]:
        """Detect faces in several images, one forward pass per picture size.

        Pictures of one size go through together; pictures of different sizes are not padded into
        one batch, so each picture's faces are exactly those `detect` finds alone (padding shifts
        the network's border activations and moves boxes by a few pixels)."""
        by_shape: dict[tuple[int, ...], list[int]] = {}
        for i, img in enumerate(images):
            by_shape.setdefault(img.shape, []).append(i)
        results: list[list[Face]] = [[] for _ in images]
        for indices in by_shape.values():
            group = [images[i] for i in indices]
            height, width = group[0].shape[:2]
            whole = self._raw(group)
            tiles = tile_grid(width, height, self.tile, self.tile_overlap) if self._tiled(width, height) else []
            for k, (i, dets) in enumerate(zip(indices, whole)):
                if tiles:
                    crops = [group[k][y0:y1, x0:x1] for x0, y0, x1, y1 in tiles]
                    dets = merge_detections(dets, tiles, self._raw(crops), width, height)
                results[i] = self._faces(dets, width, height)
        return results

    def _tiled(self, width: int, height: int) -> bool:
        return self.tile is not None and max(width, height) > self.tile

    def _set_sizes(self, height: int, width: int) -> None:
        """The network's resize for pictures of this size (its own, or `input_side`)."""
        transform = self.net.transform
        if self.input_side is None:
            transform.min_size, transform.max_size = self._own_sizes
            return
        side = input_long_side(height, width, self.input_side, self.max_upscale)
        transform.min_size, transform.max_size = (side,), side

    def _raw(self, images: list[np.ndarray]) -> list[np.ndarray]:
        """(n, 5) boxes and scores per image (same-size images), before the threshold."""
        torch = self._torch
        self._set_sizes(*images[0].shape[:2])
        tensors = [
            torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))).to(self.device).float() / 255.0
            for img in images
        ]
        with torch.inference_mode():
            outputs = self.net(tensors)
        return [
            np.concatenate([out["boxes"].cpu().numpy(), out["scores"].cpu().numpy()[:, None]], 1).astype(np.float64)
            for out in outputs
        ]

    def _faces(self, dets: np.ndarray, width: int, height: int) -> list[Face]:
        faces = (Face(box=clip_box(tuple(box), width, height), score=float(score)) for *box, score in dets)
        return [f for f in faces if keeps(f, self.threshold, self.size_thresholds, self.min_size)]

    def detect(self, image: np.ndarray) -> list[Face]:
        return self.detect_batch([image])[0]
