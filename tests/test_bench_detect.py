"""tools.bench_detect: pictures resized to the benchmark size, timing of any detector."""

from __future__ import annotations

import cv2
import numpy as np

from recognition.faces import Face
from tools.bench_detect import load_pictures, time_detector


class _Fake:
    model_id = "fake"

    def __init__(self) -> None:
        self.seen: list[tuple[int, ...]] = []

    def detect(self, image: np.ndarray) -> list[Face]:
        self.seen.append(image.shape)
        return [Face((0, 0, 10, 10), 1.0)]


def test_pictures_are_resized_and_every_one_is_timed(tmp_path):
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"{i}.jpg"), np.full((40 + i, 60, 3), 100, np.uint8))
    pictures = load_pictures(tmp_path, limit=2, side=128)
    assert len(pictures) == 2 and all(p.shape == (128, 128, 3) for p in pictures)
    fake = _Fake()
    report = time_detector(fake, pictures)
    assert len(fake.seen) == 3 and report["faces"] == 2 and report["median_ms"] >= 0
