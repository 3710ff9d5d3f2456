"""Synthetic anime faces written in the two iCartoonFace formats (`kaobot data synth`).

Output layout (the raw formats, so the converters are exercised exactly as on the real data)::

    OUT/detection/images/<split>/synth_det_<split>_00000.jpg   pictures with several faces
    OUT/detection/<split>.csv                                   image,x1,y1,x2,y2 (no header)
    OUT/recognition/images/synth_<id>/synth_<id>_0000.jpg       one character per folder
    OUT/recognition/rec_det.txt                                 relpath<TAB>x1<TAB>y1<TAB>x2<TAB>y2
    OUT/recognition/names.txt                                   folder<TAB>character name

Identities differ as real characters do (hair colour and shape, eye colour and size, face shape,
skin, accessories); every picture of one identity changes pose (roll, yaw-like squash), expression,
scale, lighting and colour cast, background, blur, JPEG quality and may be partly occluded.
Everything is seeded: the same arguments write the same files.
"""

from __future__ import annotations

import colorsys
import csv
import logging
import random
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .drawing import CharacterStyle, Expression, draw_face

log = logging.getLogger(__name__)

SKINS = [(250, 225, 205), (245, 215, 190), (235, 200, 170), (215, 170, 135), (255, 235, 225)]
MOUTHS = ["smile", "open", "flat", "frown"]


def _hsv(h: float, s: float, v: float) -> tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, s, v)
    return (int(r * 255), int(g * 255), int(b * 255))


def random_style(rng: random.Random) -> CharacterStyle:
    """A random character: the features that tell real characters apart."""
    if rng.random() < 0.2:  # black, white, grey or brown hair
        hair = rng.choice([_hsv(0, 0, rng.uniform(0.1, 0.25)), _hsv(0, 0, rng.uniform(0.75, 0.95)),
                           _hsv(rng.uniform(0.05, 0.1), rng.uniform(0.4, 0.7), rng.uniform(0.3, 0.55))])
    else:
        hair = _hsv(rng.random(), rng.uniform(0.35, 0.9), rng.uniform(0.55, 0.95))
    maybe = lambda p: _hsv(rng.random(), rng.uniform(0.5, 1), rng.uniform(0.5, 1)) if rng.random() < p else None  # noqa: E731
    return CharacterStyle(
        hair=hair,
        eyes=_hsv(rng.random(), rng.uniform(0.4, 1.0), rng.uniform(0.4, 0.9)),
        skin=rng.choice(SKINS),
        hair_length=rng.uniform(0.2, 1.0),
        face_width=rng.uniform(0.38, 0.5),
        bangs=rng.randint(2, 6),
        ribbon=maybe(0.3),
        eye_size=rng.uniform(0.8, 1.2),
        twintails=rng.random() < 0.2,
        ahoge=rng.random() < 0.25,
        glasses=_hsv(0, 0, rng.uniform(0.1, 0.5)) if rng.random() < 0.12 else None,
        hairclip=maybe(0.2),
    )


def random_expression(rng: random.Random) -> Expression:
    return Expression(
        mouth=rng.choice(MOUTHS),
        eyes_open=rng.choice([1.0, 1.0, 0.8, 0.6, 0.0]),
        gaze=rng.uniform(-1, 1),
        blush=rng.random() < 0.3,
    )


def background(rng: random.Random, width: int, height: int) -> np.ndarray:
    """A gradient with random shapes: no two pictures share a background."""
    a = np.array(_hsv(rng.random(), rng.uniform(0, 0.5), rng.uniform(0.5, 1)), np.float32)
    b = np.array(_hsv(rng.random(), rng.uniform(0, 0.5), rng.uniform(0.3, 1)), np.float32)
    t = np.linspace(0, 1, height if rng.random() < 0.5 else width, dtype=np.float32)
    ramp = a + (b - a) * t[:, None]
    canvas = (
        np.repeat(ramp[:, None], width, 1) if len(t) == height else np.repeat(ramp[None], height, 0)
    ).astype(np.uint8)
    for _ in range(rng.randint(0, 8)):
        color = _hsv(rng.random(), rng.uniform(0, 0.8), rng.uniform(0.2, 1))
        x, y = rng.randrange(width), rng.randrange(height)
        s = rng.randint(4, max(5, min(width, height) // 3))
        if rng.random() < 0.5:
            cv2.rectangle(canvas, (x, y), (x + s, y + rng.randint(4, s)), color, -1 if rng.random() < 0.7 else 2)
        else:
            cv2.circle(canvas, (x, y), s // 2, color, -1 if rng.random() < 0.7 else 2)
    return np.ascontiguousarray(canvas)


def paste_face(
    canvas: np.ndarray, cx: float, cy: float, size: int, style: CharacterStyle, expression: Expression,
    rng: random.Random, max_roll: float = 20.0,
) -> tuple[float, float, float, float]:
    """Draw a face with a random roll and yaw-like squash onto `canvas`; return its box."""
    pad = int(size * 1.6)
    patch_dark = np.zeros((2 * pad, 2 * pad, 3), np.uint8)
    patch_light = np.full((2 * pad, 2 * pad, 3), 255, np.uint8)
    box = draw_face(patch_dark, pad, pad, size, style, expression)
    draw_face(patch_light, pad, pad, size, style, expression)
    alpha = np.all(patch_dark == patch_light, axis=2).astype(np.float32)
    roll, squash = rng.uniform(-max_roll, max_roll), rng.uniform(0.8, 1.0)
    m = cv2.getRotationMatrix2D((pad, pad), roll, 1.0)
    m[0, :] *= squash
    m[0, 2] += cx - pad * squash
    m[1, 2] += cy - pad
    h, w = canvas.shape[:2]
    face = cv2.warpAffine(patch_dark, m, (w, h), flags=cv2.INTER_LINEAR)
    mask = cv2.warpAffine(alpha, m, (w, h), flags=cv2.INTER_LINEAR)[..., None]
    canvas[:] = (canvas * (1 - mask) + face * mask).astype(np.uint8)
    corners = np.array([[box[0], box[1], 1], [box[2], box[1], 1], [box[0], box[3], 1], [box[2], box[3], 1]], float)
    pts = corners @ m.T
    return (pts[:, 0].min(), pts[:, 1].min(), pts[:, 0].max(), pts[:, 1].max())


def occlude(canvas: np.ndarray, box: tuple[float, float, float, float], rng: random.Random) -> None:
    """Cover a small part of the face (a hand, a prop, a speech bubble)."""
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    ox, oy = rng.uniform(x1, x2), rng.uniform(y1 + h * 0.3, y2)
    s = rng.uniform(0.15, 0.3) * w
    color = _hsv(rng.random(), rng.uniform(0, 0.6), rng.uniform(0.3, 1))
    cv2.ellipse(canvas, (int(ox), int(oy)), (max(1, int(s)), max(1, int(s * 0.7))), rng.uniform(0, 180), 0, 360,
                color, -1)


def photometric(image: np.ndarray, rng: random.Random) -> np.ndarray:
    """Lighting and colour cast, a little blur and noise."""
    img = image.astype(np.float32)
    gain = rng.uniform(0.7, 1.25)
    cast = np.array([rng.uniform(0.9, 1.1) for _ in range(3)], np.float32)
    img = np.clip((img - 128) * rng.uniform(0.8, 1.15) + 128, 0, 255) * gain * cast
    img = 255 * (np.clip(img, 0, 255) / 255) ** rng.uniform(0.8, 1.25)
    if rng.random() < 0.3:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.5, 1.2))
    img += np.random.default_rng(rng.randrange(2**32)).normal(0, rng.uniform(0, 5), img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def write_jpeg(path: Path, image: np.ndarray, quality: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise OSError(f"cannot encode {path}")
    path.write_bytes(buf.tobytes())


@dataclass
class SynthConfig:
    identities: int = 50
    per_identity: int = 20
    detection_images: int = 200
    val_fraction: float = 0.2  # share of detection pictures written to the val split
    face_min: int = 16  # smallest face in detection pictures (pixels)
    face_max: int = 160
    max_faces: int = 6
    rec_face: tuple[int, int] = (60, 140)  # face size range in recognition pictures
    seed: int = 0


def identity_style(seed: int, index: int) -> CharacterStyle:
    """The style of identity `index`: the same for every run with the same seed."""
    return random_style(random.Random(f"{seed}-identity-{index}"))


def write_recognition(out: Path, cfg: SynthConfig) -> int:
    """Identity folders of full pictures, the tab-separated list of face boxes and a names file."""
    root = out / "recognition"
    rows, names = [], []
    for i in range(cfg.identities):
        folder = f"synth_{i:05d}"
        style = identity_style(cfg.seed, i)
        names.append((folder, f"Character {i}"))
        for j in range(cfg.per_identity):
            rng = random.Random(f"{cfg.seed}-rec-{i}-{j}")
            size = rng.randint(*cfg.rec_face)
            w, h = int(size * rng.uniform(2.0, 3.0)), int(size * rng.uniform(2.0, 3.0))
            canvas = background(rng, w, h)
            cx, cy = rng.uniform(size * 0.9, w - size * 0.9), rng.uniform(size * 0.9, h - size * 0.9)
            box = paste_face(canvas, cx, cy, size, style, random_expression(rng), rng)
            if rng.random() < 0.3:
                occlude(canvas, box, rng)
            rel = f"{folder}/{folder}_{j:04d}.jpg"
            write_jpeg(root / "images" / rel, photometric(canvas, rng), rng.randint(70, 95))
            x1, y1, x2, y2 = (int(round(v)) for v in box)
            rows.append(f"{rel}\t{x1}\t{y1}\t{x2}\t{y2}")
    (root / "rec_det.txt").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (root / "names.txt").write_text("".join(f"{f}\t{n}\n" for f, n in names), encoding="utf-8")
    return len(rows)


def _place(rng: random.Random, w: int, h: int, size: int, taken: list) -> tuple[float, float] | None:
    for _ in range(30):
        cx, cy = rng.uniform(size * 0.6, w - size * 0.6), rng.uniform(size * 0.7, h - size * 0.7)
        if all(abs(cx - x) > (size + s) * 0.75 or abs(cy - y) > (size + s) * 0.85 for x, y, s in taken):
            return cx, cy
    return None


def write_detection(out: Path, cfg: SynthConfig) -> int:
    """Pictures with several faces of varied size and a CSV per split."""
    root = out / "detection"
    n_val = int(round(cfg.detection_images * cfg.val_fraction))
    boxes = 0
    for split, start, count in (("train", 0, cfg.detection_images - n_val), ("val", cfg.detection_images - n_val, n_val)):
        if count == 0:
            continue
        lines = []
        for k in range(start, start + count):
            rng = random.Random(f"{cfg.seed}-det-{k}")
            w, h = rng.choice([(640, 480), (640, 360), (480, 640), (512, 512), (400, 300)])
            canvas = background(rng, w, h)
            taken: list[tuple[float, float, int]] = []
            faces = []
            for _ in range(rng.randint(1, cfg.max_faces)):
                # log-uniform sizes: as many small faces as large ones
                size = int(round(np.exp(rng.uniform(np.log(cfg.face_min), np.log(cfg.face_max)))))
                size = min(size, int(min(w, h) * 0.6))
                spot = _place(rng, w, h, size, taken)
                if spot is None:
                    continue
                style = identity_style(cfg.seed + 1, rng.randrange(10_000))
                box = paste_face(canvas, *spot, size, style, random_expression(rng), rng)
                taken.append((*spot, size))
                faces.append(box)
            name = f"synth_det_{split}_{k:05d}.jpg"
            write_jpeg(root / "images" / split / name, photometric(canvas, rng), rng.randint(75, 95))
            for x1, y1, x2, y2 in faces:
                x1, y1 = max(0, int(round(x1))), max(0, int(round(y1)))
                x2, y2 = min(w, int(round(x2))), min(h, int(round(y2)))
                lines.append(f"{name},{x1},{y1},{x2},{y2}")
            boxes += len(faces)
        with open(root / f"{split}.csv", "w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerows(line.split(",") for line in lines)
    return boxes


def generate(out: str | Path, cfg: SynthConfig, what: tuple[str, ...] = ("detection", "recognition")) -> dict:
    """Write the synthetic sets; returns counts."""
    out = Path(out)
    counts = {}
    if "recognition" in what:
        counts["recognition_images"] = write_recognition(out, cfg)
        log.info("wrote %d recognition pictures", counts["recognition_images"])
    if "detection" in what:
        counts["detection_boxes"] = write_detection(out, cfg)
        log.info("wrote %d detection boxes", counts["detection_boxes"])
    return counts
