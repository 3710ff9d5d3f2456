"""Overlapping tiles of a large picture and the merge of their detections.

`tile_grid` cuts a picture into square tiles of one size that overlap by at least `overlap` of a
tile (the last tile of a row or column is moved inward, so every tile has the same size and the
tiles can share one forward pass). `merge_detections` maps each tile's boxes back into the
picture, drops boxes that touch a tile's inner edge (a face cut by the edge; the overlap gives it
whole to a neighbour), adds the whole picture's boxes and keeps one box per face by NMS.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

Tile = tuple[int, int, int, int]  # x0, y0, x1, y1 in picture pixels


def _starts(length: int, tile: int, overlap: float) -> list[int]:
    if length <= tile:
        return [0]
    step = max(1, int(tile * (1 - overlap)))
    n = math.ceil((length - tile) / step) + 1
    if n == 1:
        return [0]
    # spread n tiles evenly from 0 to length - tile (the overlap is then at least `overlap`)
    return [round(i * (length - tile) / (n - 1)) for i in range(n)]


def tile_grid(width: int, height: int, tile: int, overlap: float = 0.25) -> list[Tile]:
    """Square tiles of side `tile` (clipped to the picture) covering width × height."""
    if tile <= 0:
        raise ValueError(f"tile side must be positive, got {tile}")
    if not 0 <= overlap < 1:
        raise ValueError(f"tile overlap must be in [0, 1), got {overlap}")
    tw, th = min(tile, width), min(tile, height)
    return [(x, y, x + tw, y + th) for y in _starts(height, th, overlap) for x in _starts(width, tw, overlap)]


def merge_detections(
    whole: np.ndarray,
    tiles: Sequence[Tile],
    tile_detections: Sequence[np.ndarray],
    width: int,
    height: int,
    iou: float = 0.5,
    edge: float = 2.0,
) -> np.ndarray:
    """(n, 5) boxes x1 y1 x2 y2 and scores in picture pixels: the whole picture's detections and the
    tiles' (each in its tile's pixels), a box touching a tile's inner edge dropped, merged by NMS."""
    import torch
    from torchvision.ops import nms

    parts = [np.asarray(whole, np.float64).reshape(-1, 5)]
    for (x0, y0, x1, y1), dets in zip(tiles, tile_detections, strict=True):
        dets = np.asarray(dets, np.float64).reshape(-1, 5).copy()
        dets[:, [0, 2]] += x0
        dets[:, [1, 3]] += y0
        cut = np.zeros(len(dets), bool)
        if x0 > 0:
            cut |= dets[:, 0] <= x0 + edge
        if y0 > 0:
            cut |= dets[:, 1] <= y0 + edge
        if x1 < width:
            cut |= dets[:, 2] >= x1 - edge
        if y1 < height:
            cut |= dets[:, 3] >= y1 - edge
        parts.append(dets[~cut])
    boxes = np.concatenate(parts)
    if not len(boxes):
        return boxes
    keep = nms(torch.from_numpy(boxes[:, :4]).float(), torch.from_numpy(boxes[:, 4]).float(), iou).numpy()
    return boxes[np.sort(keep)]
