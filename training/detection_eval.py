"""Face-detection evaluation for any `Detector` (`kaobot eval detection`).

Ground truth comes from an iCartoonFace CSV (`image,x1,y1,x2,y2`, no header) or YOLO labels
(`labels/…/<stem>.txt` beside `images/…`). Reported per detector:

* AP50 and AP50:95 (COCO protocol, computed by pycocotools), and COCO's AP for small (< 32²
  pixels), medium and large (> 96²) faces;
* precision, recall and F1 at the operating threshold (the detector's configured score threshold),
  matching greedily by score at IoU ≥ 0.5, and recall by face size (side = √(w·h));
* milliseconds per image.

For the AP the detector runs with a low score threshold (`min_score`) so the whole
precision-recall curve exists; the operating point keeps the detections at or above `threshold`.
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import random
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from recognition.detect import Detector
from recognition.images import IMAGE_SUFFIXES, decode_image

log = logging.getLogger(__name__)

SIZE_BUCKETS: list[tuple[str, float, float]] = [
    ("<24px", 0, 24), ("24-48px", 24, 48), ("48-96px", 48, 96), (">=96px", 96, float("inf")),
]


@dataclass
class GroundTruth:
    images: list[Path]
    boxes: dict[Path, np.ndarray]  # (n, 4) x1 y1 x2 y2 in pixels


def yolo_label_path(image: Path) -> Path:
    """`…/images/<split>/x.jpg` → `…/labels/<split>/x.txt` (the Ultralytics convention)."""
    parts = list(image.parts)
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            return Path(*parts).with_suffix(".txt")
    raise ValueError(f"{image} is not under an 'images' folder; pass --labels")


def load_yolo(images_dir: str | Path, labels_dir: str | Path | None = None) -> GroundTruth:
    """Every image of `images_dir` with its YOLO boxes (an image without a label file has no face)."""
    from PIL import Image

    images = sorted(p for p in Path(images_dir).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    boxes = {}
    for img in images:
        label = Path(labels_dir) / (img.stem + ".txt") if labels_dir else yolo_label_path(img)
        rows = []
        if label.is_file():
            with Image.open(img) as im:
                w, h = im.size
            for line in label.read_text().splitlines():
                parts = line.split()
                if len(parts) >= 5:
                    cx, cy, bw, bh = (float(v) for v in parts[1:5])
                    rows.append(((cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h))
        boxes[img] = np.array(rows, np.float64).reshape(-1, 4)
    return GroundTruth(images, boxes)


def load_csv(csv_path: str | Path, images_dir: str | Path) -> GroundTruth:
    """Images named in an iCartoonFace detection CSV, with their boxes."""
    boxes: dict[Path, list] = defaultdict(list)
    with open(csv_path, newline="", encoding="utf-8") as f:
        for lineno, row in enumerate(csv.reader(f), 1):
            if len(row) < 5:
                if row:
                    log.warning("%s line %d: skipped (%d fields)", csv_path, lineno, len(row))
                continue
            try:
                boxes[Path(images_dir) / row[0].strip()].append(tuple(float(v) for v in row[1:5]))
            except ValueError:
                log.warning("%s line %d: skipped (not numbers)", csv_path, lineno)
    images = sorted(boxes)
    return GroundTruth(images, {k: np.array(v, np.float64).reshape(-1, 4) for k, v in boxes.items()})


def subset(gt: GroundTruth, limit: int | None, seed: int = 0) -> GroundTruth:
    if not limit or limit >= len(gt.images):
        return gt
    images = sorted(random.Random(seed).sample(gt.images, limit))
    return GroundTruth(images, {k: gt.boxes[k] for k in images})


def run_detector(detector: Detector, gt: GroundTruth, progress: bool = False) -> tuple[dict, float]:
    """Detections per image ((n, 5): box and score) and the mean milliseconds per image."""
    from tqdm import tqdm

    out, seconds = {}, 0.0
    for path in tqdm(gt.images, desc=detector.model_id, unit="img", disable=not progress):
        image = decode_image(path.read_bytes())
        t0 = time.perf_counter()
        faces = detector.detect(image)
        seconds += time.perf_counter() - t0
        out[path] = np.array([[*f.box, f.score] for f in faces], np.float64).reshape(-1, 5)
    return out, 1000 * seconds / max(1, len(gt.images))


def coco_ap(gt: GroundTruth, detections: dict) -> tuple[dict[str, float], tuple[list, list]]:
    """COCO AP numbers and the precision-recall curve at IoU 0.5 (pycocotools)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    images, annotations, results = [], [], []
    for i, path in enumerate(gt.images):
        images.append({"id": i, "file_name": path.name, "width": 0, "height": 0})
        for x1, y1, x2, y2 in gt.boxes[path]:
            w, h = x2 - x1, y2 - y1
            annotations.append({"id": len(annotations) + 1, "image_id": i, "category_id": 1,
                                "bbox": [x1, y1, w, h], "area": w * h, "iscrowd": 0})
        for x1, y1, x2, y2, s in detections[path]:
            results.append({"image_id": i, "category_id": 1, "bbox": [x1, y1, x2 - x1, y2 - y1], "score": float(s)})
    if not annotations:
        raise ValueError("the ground truth holds no face")
    quiet = io.StringIO()
    with contextlib.redirect_stdout(quiet):
        coco = COCO()
        coco.dataset = {"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "face"}]}
        coco.createIndex()
        if not results:
            return {"ap50_95": 0.0, "ap50": 0.0, "ap75": 0.0, "ap_small": 0.0, "ap_medium": 0.0, "ap_large": 0.0}, ([0.0], [0.0])
        evaluator = COCOeval(coco, coco.loadRes(results), "bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    stats = [float(v) for v in evaluator.stats]
    precision = evaluator.eval["precision"][0, :, 0, 0, -1]  # IoU 0.5, all recalls, class, area all, 100 dets
    recall = evaluator.params.recThrs
    valid = precision > -1
    names = ("ap50_95", "ap50", "ap75", "ap_small", "ap_medium", "ap_large")
    return {n: stats[i] for i, n in enumerate(names)}, (recall[valid].tolist(), precision[valid].tolist())


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    x1 = np.maximum(box[0], boxes[:, 0])
    y1 = np.maximum(box[1], boxes[:, 1])
    x2 = np.minimum(box[2], boxes[:, 2])
    y2 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1]) + (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(area - inter, 1e-9)


def keep_above(dets: np.ndarray, threshold: float, size_thresholds: Sequence[float] = ()) -> np.ndarray:
    """Detections ((n, 5)) scoring at least `threshold`, or the `SIZE_BUCKETS` threshold of their side."""
    if not size_thresholds:
        return dets[dets[:, 4] >= threshold]
    sides = np.sqrt(np.clip(dets[:, 2] - dets[:, 0], 0, None) * np.clip(dets[:, 3] - dets[:, 1], 0, None))
    edges = [lo for _, lo, _ in SIZE_BUCKETS[1:]]
    return dets[dets[:, 4] >= np.asarray(size_thresholds, np.float64)[np.searchsorted(edges, sides, side="right")]]


def operating_point(
    gt: GroundTruth, detections: dict, threshold: float, iou: float = 0.5, size_thresholds: Sequence[float] = ()
) -> dict:
    """Precision, recall and F1 at `threshold` (or per face size, `size_thresholds`), and recall by
    face size (greedy matching by score)."""
    tp = fp = 0
    found: dict[str, list[int]] = {name: [0, 0] for name, _, _ in SIZE_BUCKETS}
    for path in gt.images:
        truth, dets = gt.boxes[path], detections[path]
        dets = keep_above(dets, threshold, size_thresholds)
        dets = dets[np.argsort(-dets[:, 4])]
        matched = np.zeros(len(truth), bool)
        for d in dets:
            if len(truth):
                overlaps = np.where(matched, -1.0, _iou(d[:4], truth))
                j = int(np.argmax(overlaps))
                if overlaps[j] >= iou:
                    matched[j] = True
                    tp += 1
                    continue
            fp += 1
        sides = np.sqrt(np.clip(truth[:, 2] - truth[:, 0], 0, None) * np.clip(truth[:, 3] - truth[:, 1], 0, None))
        for name, lo, hi in SIZE_BUCKETS:
            inside = (sides >= lo) & (sides < hi)
            found[name][0] += int(matched[inside].sum())
            found[name][1] += int(inside.sum())
    n_truth = sum(len(b) for b in gt.boxes.values())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / n_truth if n_truth else 0.0
    return {
        "threshold": threshold,
        **({"size_thresholds": list(size_thresholds)} if size_thresholds else {}),
        "precision": precision,
        "recall": recall,
        "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
        "true_positives": tp,
        "false_positives": fp,
        "faces": n_truth,
        "by_size": {name: {"faces": n, "recall": (hit / n if n else None)} for name, (hit, n) in found.items()},
    }


def evaluate_detector(
    detector: Detector, gt: GroundTruth, threshold: float, progress: bool = False, size_thresholds: Sequence[float] = ()
) -> tuple[dict, tuple]:
    """The report of one detector (see the module docstring) and its PR curve; the operating point
    at `threshold`, or at `size_thresholds` by face size when given."""
    detections, ms = run_detector(detector, gt, progress)
    ap, curve = coco_ap(gt, detections)
    op = operating_point(gt, detections, threshold, size_thresholds=size_thresholds)
    return {"model_id": detector.model_id, **ap, "operating_point": op, "ms_per_image": ms}, curve


def describe(gt: GroundTruth) -> dict:
    sides = np.concatenate([np.sqrt((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])) for b in gt.boxes.values()] or [[]])
    return {"images": len(gt.images), "faces": int(len(sides)),
            "median_face_side": float(np.median(sides)) if len(sides) else None}


def parse_detector_spec(spec: str) -> tuple[str, str | None]:
    """`animeface`, `torch:PATH`, `onnx:PATH` or `yolo_onnx:PATH` → (backend, checkpoint); options
    after a `?` (see `parse_detector_options`) are left out."""
    backend, checkpoint, _ = parse_detector_options(spec)
    return backend, checkpoint


def parse_detector_options(spec: str) -> tuple[str, str | None, dict]:
    """`BACKEND[:PATH][?key=value&…]` → (backend, checkpoint, detector setting overrides), e.g.
    `torch:shipped:detector-fcos-icf512.pt?input_side=768&tile=480` (values: numbers or `null`;
    `size_thresholds=0.5,0.55,0.5,0.6`, empty for none)."""
    import dataclasses

    from recognition.config import DetectorSettings
    from recognition.errors import ConfigError

    spec, _, query = spec.partition("?")
    backend, _, path = spec.partition(":")
    fields = {f.name for f in dataclasses.fields(DetectorSettings)} - {"backend", "checkpoint"}
    options: dict = {}
    for item in filter(None, query.split("&")):
        key, sep, value = item.partition("=")
        if not sep or key not in fields:
            raise ConfigError(f"detector option {item!r} in {spec!r}: expected key=value, key one of {sorted(fields)}")
        if key == "size_thresholds":
            options[key] = [float(v) for v in value.split(",") if v]
        else:
            options[key] = None if value == "null" else (float(value) if "." in value else int(value))
    return backend, (path or None), options


def sizes_table(reports: Sequence[dict]) -> dict[str, dict]:
    return {r["name"]: r["operating_point"]["by_size"] for r in reports}
