"""iCartoonFace converters: detection CSV → YOLO labels, recognition list → identity folders.

Both are better-behaved than the original project's scripts: label files are rewritten (never
appended), so re-runs do not duplicate boxes; boxes are clipped to the image; bad rows are
reported with their line numbers and skipped; the cropper is resumable (finished crops are kept)
and keeps the aspect ratio with a margin around the box unless told otherwise.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from recognition.preprocess import crop_face

log = logging.getLogger(__name__)


@dataclass
class ConversionReport:
    """What a conversion did; `problems` holds 'line N: reason' strings."""

    rows: int = 0
    images: int = 0
    boxes: int = 0
    clipped: int = 0
    duplicates: int = 0
    skipped_existing: int = 0
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{self.rows} rows, {self.images} images, {self.boxes} boxes written, {self.clipped} clipped, "
            f"{self.duplicates} duplicate rows, {self.skipped_existing} already done, {len(self.problems)} bad rows"
        )


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _parse_box(values: list[str]) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = (float(v) for v in values)
    if not all(np.isfinite([x1, y1, x2, y2])):
        raise ValueError("non-finite coordinate")
    return x1, y1, x2, y2


def _clip(box, width: int, height: int) -> tuple[tuple[float, float, float, float], bool]:
    x1, y1, x2, y2 = box
    clipped = (min(max(x1, 0), width), min(max(y1, 0), height), min(max(x2, 0), width), min(max(y2, 0), height))
    return clipped, clipped != tuple(box)


def csv_to_yolo(
    csv_path: str | Path, images_dir: str | Path, out_dir: str | Path, split: str = "train", link_images: bool = True
) -> ConversionReport:
    """Convert an iCartoonFace detection CSV (`image,x1,y1,x2,y2`, no header) to YOLO labels.

    Writes `out_dir/labels/<split>/<stem>.txt` (`0 cx cy w h`, normalised) for every image named in
    the CSV, links `out_dir/images/<split>/<image>` to the source picture (Ultralytics finds labels by
    replacing `images` with `labels` in the path) and (re)writes `out_dir/dataset.yaml`.
    """
    images_dir, out_dir = Path(images_dir), Path(out_dir)
    report = ConversionReport()
    boxes: dict[str, list[tuple[float, float, float, float]]] = defaultdict(list)
    sizes: dict[str, tuple[int, int] | None] = {}
    with open(csv_path, newline="", encoding="utf-8") as f:
        for lineno, row in enumerate(csv.reader(f), 1):
            if not row or all(not c.strip() for c in row):
                continue
            report.rows += 1
            if len(row) < 5:
                report.problems.append(f"line {lineno}: expected image,x1,y1,x2,y2, got {len(row)} field(s)")
                continue
            name = row[0].strip()
            try:
                box = _parse_box(row[1:5])
            except ValueError:
                report.problems.append(f"line {lineno}: coordinates are not numbers: {row[1:5]}")
                continue
            if name not in sizes:
                try:
                    with Image.open(images_dir / name) as img:
                        sizes[name] = img.size
                except (OSError, ValueError) as exc:
                    sizes[name] = None
                    report.problems.append(f"line {lineno}: cannot read image {name}: {exc}")
                    continue
            size = sizes[name]
            if size is None:
                report.problems.append(f"line {lineno}: image {name} is unreadable (see above)")
                continue
            width, height = size
            box, was_clipped = _clip(box, width, height)
            if box[2] - box[0] < 1 or box[3] - box[1] < 1:
                report.problems.append(f"line {lineno}: empty box after clipping to {width}x{height}: {row[1:5]}")
                continue
            if box in boxes[name]:
                report.duplicates += 1
                continue
            report.clipped += was_clipped
            boxes[name].append(box)
    for name, items in boxes.items():
        width, height = sizes[name]  # type: ignore[misc]
        lines = [
            f"0 {(x1 + x2) / 2 / width:.6f} {(y1 + y2) / 2 / height:.6f} {(x2 - x1) / width:.6f} {(y2 - y1) / height:.6f}"
            for x1, y1, x2, y2 in items
        ]
        _atomic_write(out_dir / "labels" / split / (Path(name).stem + ".txt"), ("\n".join(lines) + "\n").encode())
        if link_images:
            link = out_dir / "images" / split / name
            link.parent.mkdir(parents=True, exist_ok=True)
            if link.is_symlink() or link.exists():
                link.unlink()
            link.symlink_to((images_dir / name).resolve())
        report.images += 1
        report.boxes += len(items)
    write_dataset_yaml(out_dir)
    for problem in report.problems:
        log.warning("%s: %s", csv_path, problem)
    return report


def write_dataset_yaml(out_dir: Path) -> Path:
    """An Ultralytics-style dataset YAML for the splits present under `out_dir/images`."""
    splits = sorted(p.name for p in (out_dir / "images").iterdir() if p.is_dir()) if (out_dir / "images").is_dir() else []
    lines = [f"path: {out_dir.resolve()}"]
    lines += [f"{s}: images/{s}" for s in splits]
    lines += ["nc: 1", "names: [face]"]
    path = out_dir / "dataset.yaml"
    _atomic_write(path, ("\n".join(lines) + "\n").encode())
    return path


def read_names(path: str | Path) -> dict[str, str]:
    """An id → name file: one `id<TAB or comma or spaces>name` a line; `#` starts a comment."""
    names: dict[str, str] = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = re.split(r"\t|,|\s+", line, maxsplit=1)
        if len(parts) == 2 and parts[1].strip():
            names[parts[0].strip()] = parts[1].strip()
    return names


def _folder_name(identity: str, names: dict[str, str]) -> str:
    """The output folder of an identity: its name from the names file when known.

    The id may be listed as the whole folder name or as its number (`…_00042` → `42` or `00042`).
    """
    name = names.get(identity)
    if name is None:
        digits = re.search(r"(\d+)$", identity)
        if digits:
            name = names.get(digits.group(1)) or names.get(str(int(digits.group(1))))
    if name is None:
        return identity
    safe = re.sub(r'[/\\\x00:*?"<>|]', "_", name).strip(". ") or identity
    return safe


def crop_recognition(
    list_path: str | Path,
    images_dir: str | Path,
    out_dir: str | Path,
    *,
    margin: float = 0.25,
    size: int = 250,
    keep_aspect: bool = True,
    names_path: str | Path | None = None,
    quality: int = 95,
    test_list: bool = False,
) -> ConversionReport:
    """Cut the listed face boxes into one folder per identity.

    Training list (`icartoonface_rectrain_det.txt`): `relpath\\tx1\\ty1\\tx2\\ty2`, the identity is
    the first folder of `relpath`. Test list (`test_list`, `icartoonface_rectest_det.txt`):
    `filename x1 y1 x2 y2 label_id` (tabs or spaces), the identity is `label_id`, and faces labelled
    `-1` (identities outside the training set, to be rejected) go to the folder `unknown`.
    With `keep_aspect` the crop is a square window
    (`recognition.preprocess.crop_face`, edge-replicated outside the picture); otherwise the box
    grown by `margin` is stretched to `size`² as in the original. Crops already written are kept
    (resumable); `crops.json` records the options so a trainer knows the crop margin.
    """
    images_dir, out_dir = Path(images_dir), Path(out_dir)
    names = read_names(names_path) if names_path else {}
    report = ConversionReport()
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = {"margin": margin, "size": size, "keep_aspect": keep_aspect}
    manifest_path = out_dir / "crops.json"
    if manifest_path.is_file() and json.loads(manifest_path.read_text()) != manifest:
        raise ValueError(f"{out_dir} holds crops made with other options {manifest_path.read_text().strip()}; "
                         "use another output folder")
    _atomic_write(manifest_path, json.dumps(manifest).encode())
    folders: dict[str, str] = {}
    taken: dict[str, str] = {}
    seen_images: set[str] = set()
    with open(list_path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            report.rows += 1
            try:
                rel, box, identity = (_test_row if test_list else _train_row)(line.rstrip("\r\n"))
            except ValueError as exc:
                report.problems.append(f"line {lineno}: {exc}")
                continue
            rel_path = Path(rel)
            if identity not in folders:
                folder = _folder_name(identity, names)
                if folder in taken and taken[folder] != identity:  # two ids with one name
                    folder = f"{folder} ({identity})"
                folders[identity], taken[folder] = folder, identity
            stem = rel_path.stem
            if rel in seen_images:  # several faces in one picture: keep them apart
                stem = f"{stem}_{lineno}"
            seen_images.add(rel)
            target = out_dir / folders[identity] / f"{stem}.jpg"
            if target.is_file():
                report.skipped_existing += 1
                continue
            image = cv2.imread(str(images_dir / rel), cv2.IMREAD_COLOR)
            if image is None:
                report.problems.append(f"line {lineno}: cannot read image {rel}")
                continue
            image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
            height, width = image.shape[:2]
            box, was_clipped = _clip(box, width, height)
            if box[2] - box[0] < 1 or box[3] - box[1] < 1:
                report.problems.append(f"line {lineno}: empty box after clipping to {width}x{height}")
                continue
            report.clipped += was_clipped
            crop = crop_face(image, box, margin=margin, size=size) if keep_aspect else _stretch(image, box, margin, size)
            ok, buf = cv2.imencode(".jpg", cv2.cvtColor(crop, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
            if not ok:
                report.problems.append(f"line {lineno}: cannot encode the crop")
                continue
            _atomic_write(target, buf.tobytes())
            report.boxes += 1
    report.images = len(seen_images)
    for problem in report.problems:
        log.warning("%s: %s", list_path, problem)
    return report


def _train_row(line: str) -> tuple[str, tuple[float, float, float, float], str]:
    """`relpath\tx1\ty1\tx2\ty2` → (relpath, box, identity folder)."""
    parts = line.split("\t")
    if len(parts) < 5:
        raise ValueError("expected relpath and 4 tab-separated numbers")
    rel = parts[0].strip()
    box = _numbers(parts[1:5])
    if len(Path(rel).parts) < 2:
        raise ValueError(f"{rel!r} has no identity folder")
    return rel, box, Path(rel).parts[0]


def _test_row(line: str) -> tuple[str, tuple[float, float, float, float], str]:
    """`filename x1 y1 x2 y2 label_id` (tabs or spaces) → (filename, box, label id or "unknown")."""
    parts = line.strip().rsplit(None, 5)
    if len(parts) < 6:
        raise ValueError("expected filename, 4 numbers and a label id")
    box = _numbers(parts[1:5])
    if not re.fullmatch(r"-?\d+", parts[5]):
        raise ValueError(f"label id is not an integer: {parts[5]!r}")
    return parts[0], box, "unknown" if int(parts[5]) < 0 else parts[5]


def _numbers(values: list[str]) -> tuple[float, float, float, float]:
    try:
        return _parse_box(values)
    except ValueError:
        raise ValueError(f"coordinates are not numbers: {values}") from None


def _stretch(image: np.ndarray, box, margin: float, size: int) -> np.ndarray:
    """The original project's crop: the (grown, clipped) box resized to size² ignoring aspect ratio."""
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    height, width = image.shape[:2]
    x1, y1 = int(max(0, x1 - margin * w)), int(max(0, y1 - margin * h))
    x2, y2 = int(min(width, np.ceil(x2 + margin * w))), int(min(height, np.ceil(y2 + margin * h)))
    return cv2.resize(image[y1:y2, x1:x2], (size, size), interpolation=cv2.INTER_AREA)
