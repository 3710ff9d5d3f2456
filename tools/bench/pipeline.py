"""Per-stage latency and concurrent throughput of the recognition pipelines.

Pictures are drawn scenes (`training.drawing`) at 512², 1024² and 1920×1080 with 1, 3 or 10 faces.
The embed stage embeds the drawn faces' boxes, so every pipeline embeds the same number of faces
whatever its (possibly untrained) detector returns.
"""

from __future__ import annotations

import asyncio
import os
import random
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from recognition.config import DetectorSettings, EmbedderSettings, InferenceSettings, RecognitionSettings
from recognition.detect import Detector
from recognition.embed import Embedder
from recognition.faces import Face
from recognition.gallery import FaceRecord
from recognition.gallery.sqlite import SQLiteGallery
from recognition.images import ImageLimits, decode_image, encode_png
from recognition.service import Recognizer
from recognition.worker import InferenceWorker
from training.drawing import CharacterStyle, draw_scene

SIZES = [(512, 512), (1024, 1024), (1920, 1080)]
FACE_COUNTS = [1, 3, 10]
GALLERY_FACES = 1000


@dataclass
class Pipeline:
    name: str
    detector: Detector
    embedder: Embedder
    backends: tuple[DetectorSettings, EmbedderSettings] | None = None  # to rebuild it in worker processes


def scene(size: tuple[int, int], faces: int, seed: int = 0) -> tuple[bytes, list[Face]]:
    """PNG bytes of a drawn picture with `faces` faces on a grid, and their boxes."""
    rng = random.Random(seed)
    width, height = size
    cols = int(np.ceil(np.sqrt(faces * width / height)))
    rows = int(np.ceil(faces / cols))
    cell = min(width / cols, height / rows)
    placed, boxes = [], []
    for i in range(faces):
        cx = int((i % cols + 0.5) * width / cols)
        cy = int((i // cols + 0.5) * height / rows)
        s = int(cell * rng.uniform(0.45, 0.6))
        style = CharacterStyle(
            hair=tuple(rng.randrange(256) for _ in range(3)), eyes=tuple(rng.randrange(256) for _ in range(3))
        )
        placed.append((cx, cy, s, style))
        boxes.append(Face((int(cx - 0.45 * s), int(cy - 0.3 * s), int(cx + 0.45 * s), int(cy + 0.55 * s)), 1.0))
    return encode_png(draw_scene(placed, size=size, background=(230, 235, 240))), boxes


async def filled_gallery(path: Path, embedder: Embedder, faces: int = GALLERY_FACES) -> SQLiteGallery:
    """A SQLite gallery with `faces` random unit vectors of the embedder's size in scope `bench`."""
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((faces, embedder.dim)).astype(np.float32)
    gallery = SQLiteGallery(path)
    await gallery.add(
        [FaceRecord("bench", f"c{i % 100}", embedder.model_id, v, f"h{i}", (0, 0, 1, 1)) for i, v in enumerate(vectors)]
    )
    return gallery


def _pct(values: list[float]) -> tuple[float, float]:
    return float(np.percentile(values, 50)) * 1000, float(np.percentile(values, 95)) * 1000


async def stage_latency(pipeline: Pipeline, reps: int, sizes=SIZES, counts=FACE_COUNTS) -> list[dict]:
    """p50/p95 (ms) of decode, detect, embed, search and their sum, per picture size and face count."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        gallery = await filled_gallery(Path(tmp) / "g.sqlite3", pipeline.embedder)
        limits = ImageLimits()
        try:
            for size in sizes:
                for count in counts:
                    data, boxes = scene(size, count)
                    timings: dict[str, list[float]] = {k: [] for k in ("decode", "detect", "embed", "search", "total")}
                    for rep in range(reps + 1):
                        t0 = time.perf_counter()
                        image = decode_image(data, limits)
                        t1 = time.perf_counter()
                        pipeline.detector.detect(image)
                        t2 = time.perf_counter()
                        vectors = pipeline.embedder.embed(image, boxes)
                        t3 = time.perf_counter()
                        await gallery.search(vectors, "bench", pipeline.embedder.model_id, 3)
                        t4 = time.perf_counter()
                        if rep == 0:
                            continue  # warm-up
                        for key, value in zip(timings, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t4 - t0)):
                            timings[key].append(value)
                    rows.append(
                        {"size": f"{size[0]}×{size[1]}", "faces": count} | {k: _pct(v) for k, v in timings.items()}
                    )
        finally:
            await gallery.close()
    return rows


def cpu_seconds() -> float:
    """CPU time used so far by this process and its live child processes (worker processes; Linux)."""
    import multiprocessing

    total = time.process_time()
    ticks = os.sysconf("SC_CLK_TCK")
    for child in multiprocessing.active_children():
        try:
            fields = Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
        except (OSError, ValueError, IndexError):
            continue
    return total


async def throughput(
    pipeline: Pipeline, concurrency: int, batched: bool, requests: int, processes: int = 0, size=(512, 512), faces=3
) -> tuple[float, float]:
    """(pictures per second, CPU cores kept busy) through `Recognizer.identify` with `concurrency` clients."""
    data, _ = scene(size, faces)
    settings = InferenceSettings(
        threads=1, processes=processes, max_batch=16 if batched else 1, max_wait_ms=5.0, max_pending=requests
    )
    with tempfile.TemporaryDirectory() as tmp:
        gallery = await filled_gallery(Path(tmp) / "g.sqlite3", pipeline.embedder)
        worker = InferenceWorker(pipeline.detector, pipeline.embedder, ImageLimits(), 20, settings, pipeline.backends)
        rec = Recognizer(pipeline.detector, pipeline.embedder, gallery, RecognitionSettings(), worker=worker)
        try:
            await worker.start()  # worker processes start and load their models here
            await rec.identify(data, "bench")  # warm-up
            queue: asyncio.Queue[int] = asyncio.Queue()
            for i in range(requests):
                queue.put_nowait(i)

            async def client() -> None:
                while not queue.empty():
                    queue.get_nowait()
                    await rec.identify(data, "bench")

            start, cpu = time.perf_counter(), cpu_seconds()
            await asyncio.gather(*[client() for _ in range(concurrency)])
            wall = time.perf_counter() - start
            return requests / wall, (cpu_seconds() - cpu) / wall
        finally:
            await rec.close()
