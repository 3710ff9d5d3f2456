"""Datasets for training: face-crop folders (recognition) and YOLO-labelled pictures (detection).

Recognition samples go through `recognition.preprocess.crop_face` and `to_tensor_batch`, the same
functions the torch embedder uses at inference, so training and serving cannot drift.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from recognition.detect import Detector
from recognition.preprocess import crop_face, to_tensor_batch
from training.recognition_eval import list_labelled_images

log = logging.getLogger(__name__)

MEAN = (0.5, 0.5, 0.5)
STD = (0.5, 0.5, 0.5)


def read_rgb(path: str | Path) -> np.ndarray:
    """An RGB uint8 array; raises OSError when the file cannot be decoded."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise OSError(f"cannot decode {path}")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def crop_margin_of(root: str | Path, default: float) -> float:
    """The crop margin recorded by `kaobot data icartoonface-crop` (crops.json), else `default`."""
    manifest = Path(root) / "crops.json"
    if manifest.is_file():
        return float(json.loads(manifest.read_text())["margin"])
    return default


# --- recognition augmentations: each takes (image, box, rng) and returns (image, box) -------------
def _hflip(img, box, rng):
    if rng.random() < 0.5:
        w = img.shape[1]
        img = np.ascontiguousarray(img[:, ::-1])
        box = (w - box[2], box[1], w - box[0], box[3])
    return img, box


def _scale(img, box, rng):
    """Shift and scale the face window (what a detector's box jitter does)."""
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    s = rng.uniform(0.85, 1.15)
    dx, dy = rng.uniform(-0.08, 0.08) * w, rng.uniform(-0.08, 0.08) * h
    cx, cy = (x1 + x2) / 2 + dx, (y1 + y2) / 2 + dy
    return img, (cx - w * s / 2, cy - h * s / 2, cx + w * s / 2, cy + h * s / 2)


def jitter_colour(img: np.ndarray, rng, spread: float, saturation: float) -> np.ndarray:
    """Contrast and brightness each × U(1 − spread, 1 + spread), saturation × U(1 ± saturation);
    hue is left alone (it is the character's identity). Shared by both trainers' augmentations."""
    out = img.astype(np.float32)
    out = (out - out.mean()) * rng.uniform(1 - spread, 1 + spread) + out.mean() * rng.uniform(1 - spread, 1 + spread)
    grey = out.mean(axis=2, keepdims=True)
    out = grey + (out - grey) * rng.uniform(1 - saturation, 1 + saturation)
    return np.clip(out, 0, 255).astype(np.uint8)


def _color(img, box, rng):
    """Brightness, contrast and saturation."""
    return jitter_colour(img, rng, spread=0.25, saturation=0.2), box


def _blur(img, box, rng):
    if rng.random() < 0.2:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.4, 1.2))
    return img, box


def _erase(img, box, rng):
    """A random rectangle of noise over part of the face (occlusion)."""
    if rng.random() < 0.25:
        img = img.copy()
        x1, y1, x2, y2 = (int(v) for v in box)
        w, h = max(2, x2 - x1), max(2, y2 - y1)
        ew, eh = int(w * rng.uniform(0.1, 0.35)), int(h * rng.uniform(0.1, 0.35))
        ex, ey = x1 + rng.randrange(max(1, w - ew)), y1 + rng.randrange(max(1, h - eh))
        img[max(0, ey) : ey + eh, max(0, ex) : ex + ew] = [rng.randrange(256) for _ in range(3)]
    return img, box


AUGMENTATIONS: dict[str, Callable] = {"hflip": _hflip, "scale": _scale, "color": _color, "blur": _blur, "erase": _erase}


def parse_augmentations(names: Sequence[str]) -> list[Callable]:
    unknown = [n for n in names if n not in AUGMENTATIONS]
    if unknown:
        raise ValueError(f"unknown augmentation(s) {unknown}; valid: {', '.join(sorted(AUGMENTATIONS))}")
    return [AUGMENTATIONS[n] for n in names]


class FaceCrops(Dataset):
    """(tensor, class index) from (picture file, identity) items.

    Without `boxes`, each file is a face crop made with margin `crop_margin` around the face box, so
    the whole file is the network's window (`crop_face` of the full picture with margin 0, square,
    never stretched). With `boxes` ({file: face box}, from `detect_boxes`), the window is the box grown
    by `margin`, exactly what the embedder cuts at inference; a file with no box uses the whole
    picture as the box, as the evaluation protocol does.
    """

    def __init__(
        self,
        items: Sequence[tuple[Path, str]],
        classes: Sequence[str],
        input_size: int,
        augment: Sequence[str] = (),
        seed: int = 0,
        boxes: dict[str, Sequence[float]] | None = None,
        margin: float = 0.0,
    ) -> None:
        self.items = list(items)
        self.index = {c: i for i, c in enumerate(classes)}
        self.input_size = input_size
        self.augment = parse_augmentations(augment)
        self.seed = seed
        self.epoch = 0
        self.boxes = boxes
        self.margin = margin if boxes is not None else 0.0

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        path, label = self.items[i]
        img = read_rgb(path)
        box = (0.0, 0.0, float(img.shape[1]), float(img.shape[0]))
        if self.boxes is not None and self.boxes.get(str(path)):
            box = tuple(float(v) for v in self.boxes[str(path)])
        if self.augment:
            rng = random.Random(hash((self.seed, self.epoch, i)))
            for aug in self.augment:
                img, box = aug(img, box, rng)
        crop = crop_face(img, box, margin=self.margin, size=self.input_size)
        return torch.from_numpy(to_tensor_batch([crop], MEAN, STD)[0]), self.index[label]


def detector_key(detector: Detector) -> str:
    """The model id and the box-changing settings of `detector`: cached boxes are reused only when both match."""
    settings = detector.settings()
    return detector.model_id + (f" {json.dumps(settings, sort_keys=True)}" if settings else "")


def detect_boxes(paths: Sequence[Path], detector, cache: Path | None = None) -> dict[str, list[float] | None]:
    """{file: the largest detected face box, or None} for every picture, run once and kept in `cache`
    (JSON, keyed by path and `detector_key`) so that later runs with the same detector reuse it."""
    from tqdm import tqdm

    from recognition.errors import BadImage
    from recognition.images import decode_image

    known: dict[str, list[float] | None] = {}
    if cache is not None and cache.is_file():
        stored = json.loads(cache.read_text())
        if stored.get("detector") == detector_key(detector):
            known = stored["boxes"]
    todo = [p for p in paths if str(p) not in known]
    for path in tqdm(todo, desc="detect", unit="img", disable=not todo):
        try:
            faces = detector.detect(decode_image(Path(path).read_bytes()))
        except BadImage:
            faces = []
        known[str(path)] = list(max(faces, key=lambda f: f.area).box) if faces else None
    if cache is not None and todo:
        cache.write_text(json.dumps({"detector": detector_key(detector), "boxes": known}))
    return known


def split_items(
    items: Sequence[tuple[Path, str]], mode: str, fraction: float, seed: int, min_train: int = 1
) -> tuple[list, list]:
    """Hold out a validation split: `images` (a share of every identity's images) or `identities`."""
    rng = random.Random(seed)
    by_label: dict[str, list] = {}
    for item in items:
        by_label.setdefault(item[1], []).append(item)
    train, val = [], []
    if mode == "identities":
        labels = sorted(by_label)
        held = set(rng.sample(labels, max(2, round(len(labels) * fraction)))) if fraction > 0 else set()
        for label in labels:
            (val if label in held else train).extend(by_label[label])
    elif mode == "images":
        for label in sorted(by_label):
            group = by_label[label][:]
            rng.shuffle(group)
            n_val = min(len(group) - min_train, round(len(group) * fraction))
            val.extend(group[: max(0, n_val)])
            train.extend(group[max(0, n_val) :])
    else:
        raise ValueError(f"unknown validation split {mode!r}; valid: identities, images")
    return train, val


def labelled_images(root: str | Path) -> list[tuple[Path, str]]:
    return list_labelled_images(root)
