"""Detector speed on 1024×1024 pictures, every detector on the same pictures in one run.

    python -m tools.bench_detect --images ../shared/data/icartoonface-det/images/val \\
        --detector animeface --detector torch:runs/det/best.pt --limit 20 --json runs/speed.json

Each picture is resized (stretched) to `--side`² pixels first, so every detector sees exactly that
size; each detector runs once on a warm-up picture, then the median and mean milliseconds per
picture over the set are reported with the torch thread count and the load average.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import statistics
import time
from pathlib import Path

import cv2
import numpy as np

from recognition import load_settings
from recognition.detect import build_detector
from recognition.images import IMAGE_SUFFIXES
from training.datasets import read_rgb
from training.detection_eval import parse_detector_options


def load_pictures(folder: str | Path, limit: int, side: int, seed: int = 0) -> list[np.ndarray]:
    """`limit` seeded random pictures of `folder`, resized to side × side (RGB)."""
    files = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    files = random.Random(seed).sample(files, min(limit, len(files)))
    return [cv2.resize(read_rgb(f), (side, side), interpolation=cv2.INTER_LINEAR) for f in files]


def time_detector(detector, pictures: list[np.ndarray]) -> dict[str, float]:
    """Milliseconds per picture (after one warm-up call) and faces found."""
    detector.detect(pictures[0])
    times, faces = [], 0
    for picture in pictures:
        t0 = time.perf_counter()
        faces += len(detector.detect(picture))
        times.append((time.perf_counter() - t0) * 1000)
    return {"median_ms": statistics.median(times), "mean_ms": statistics.fmean(times), "faces": faces}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", required=True)
    p.add_argument("--detector", action="append", required=True, help="animeface | torch:CKPT | onnx:MODEL | yolo_onnx:MODEL")
    p.add_argument("--side", type=int, default=1024)
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--config", default=None)
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    settings = load_settings(args.config, None)
    pictures = load_pictures(args.images, args.limit, args.side)
    report: dict = {"side": args.side, "pictures": len(pictures), "torch_threads": torch.get_num_threads(),
                    "cpus": os.cpu_count(), "loadavg_before": os.getloadavg()[0], "detectors": []}
    for spec in args.detector:
        backend, checkpoint, options = parse_detector_options(spec)
        overrides = {**options, "backend": backend, **({"checkpoint": checkpoint} if checkpoint else {}), "device": "cpu"}
        detector = build_detector(dataclasses.replace(settings.detector, **overrides))
        report["detectors"].append({"name": spec, "model_id": detector.model_id, **time_detector(detector, pictures)})
    report["loadavg_after"] = os.getloadavg()[0]
    base = report["detectors"][0]["median_ms"]
    for row in report["detectors"]:
        row["speedup_vs_first"] = base / row["median_ms"]
    text = json.dumps(report, indent=1)
    if args.json:
        Path(args.json).write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
