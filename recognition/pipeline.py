"""The CPU part of recognition for a batch of pictures: decode → detect → embed.

Torch backends take the whole batch at once (`detect_batch`, `embed_crops`: one forward pass
for every face of every picture); other backends run picture by picture.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .detect import Detector
from .embed import Embedder
from .faces import Face, order_left_to_right
from .images import ImageLimits, decode_image, image_hash


@dataclass(frozen=True)
class Analysis:
    """A decoded picture with its faces (left to right) and their vectors."""

    image: np.ndarray
    source_hash: str
    faces: list[Face]
    vectors: np.ndarray


def analyse_batch(
    datas: Sequence[bytes],
    detector: Detector,
    embedder: Embedder,
    limits: ImageLimits,
    max_faces: int,
    embed: bool = True,
) -> list[Analysis | Exception]:
    """Analyse several pictures; a picture that fails yields its exception, the others go on."""
    results: list[Analysis | Exception | None] = [None] * len(datas)
    images: list[tuple[int, np.ndarray]] = []
    for i, data in enumerate(datas):
        try:
            images.append((i, decode_image(data, limits)))
        except Exception as exc:  # BadImage above all; kept per picture
            results[i] = exc
    if hasattr(detector, "detect_batch"):
        found = detector.detect_batch([img for _, img in images])
    else:
        found = [detector.detect(img) for _, img in images]
    faces_per_image = [_keep_largest(faces, max_faces) for faces in found]
    vectors_per_image = _embed_all(embedder, [img for _, img in images], faces_per_image, embed)
    for (i, image), faces, vectors in zip(images, faces_per_image, vectors_per_image):
        results[i] = Analysis(image=image, source_hash=image_hash(datas[i]), faces=faces, vectors=vectors)
    return results  # type: ignore[return-value]


def _keep_largest(faces: list[Face], max_faces: int) -> list[Face]:
    if len(faces) > max_faces:
        faces = sorted(faces, key=lambda f: f.area, reverse=True)[:max_faces]
    return order_left_to_right(faces)


def _embed_all(embedder: Embedder, images: list[np.ndarray], faces: list[list[Face]], embed: bool) -> list[np.ndarray]:
    empty = np.zeros((0, embedder.dim), np.float32)
    if not embed:
        return [empty for _ in images]
    if hasattr(embedder, "embed_crops") and hasattr(embedder, "crops"):
        crops = [c for img, fs in zip(images, faces) for c in embedder.crops(img, fs)]
        vectors = embedder.embed_crops(crops)
        out, start = [], 0
        for fs in faces:
            out.append(vectors[start : start + len(fs)])
            start += len(fs)
        return out
    return [embedder.embed(img, fs) if fs else empty for img, fs in zip(images, faces)]
