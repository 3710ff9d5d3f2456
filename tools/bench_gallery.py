"""Gallery benchmark: bulk enrolment (faces/s), single enrolment and search latency.

    python -m tools.bench_gallery [--faces 5000] [--url http://127.0.0.1:9200] [--out docs/benchmarks.md]

Without `--url` it starts a local `noida-db` server (an ES-compatible TEST server with brute-force
kNN): those numbers describe kaobot's client path against that server, NOT Elasticsearch. The
SQLite gallery is measured in the same run on the same vectors, for scale.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import numpy as np

from recognition.config import ElasticsearchSettings
from recognition.gallery import FaceRecord, Gallery
from recognition.gallery.elastic import ElasticsearchGallery
from recognition.gallery.sqlite import SQLiteGallery
from recognition.images import encode_jpeg
from recognition.preprocess import crop_face
from recognition.service import CROP_MARGIN, CROP_SIZE
from tools.bench.report import write_section
from training.drawing import CharacterStyle, draw_scene

HEADING = "Gallery backends: bulk enrolment and search"


def make_records(n: int, dim: int, per_character: int, seed: int = 0) -> list[FaceRecord]:
    """`n` faces of `n / per_character` characters: a centre per character plus noise, each with
    a real JPEG crop of the size kaobot stores."""
    rng = np.random.default_rng(seed)
    image = draw_scene([(200, 200, 170, CharacterStyle(hair=(60, 60, 200), eyes=(40, 160, 60)))], size=(420, 400))
    crop = encode_jpeg(crop_face(image, (115, 115, 285, 285), margin=CROP_MARGIN, size=CROP_SIZE), quality=90)
    centres = rng.normal(size=(max(1, n // per_character), dim)).astype(np.float32)
    records = []
    for i in range(n):
        c = i % len(centres)
        v = centres[c] + 0.6 * rng.normal(size=dim).astype(np.float32)
        records.append(FaceRecord("bench", f"character {c:05d}", "bench-model", v, f"src{i}", (10, 10, 90, 90), crop))
    return records


async def timed(fn: Callable[[], Awaitable[object]], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        await fn()
        times.append((time.perf_counter() - start) * 1000)
    return times


def summary(ms: list[float]) -> str:
    ordered = sorted(ms)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return f"{statistics.median(ms):.1f} / {p95:.1f}"


async def bench(gallery: Gallery, label: str, records: list[FaceRecord], queries: np.ndarray, batch: int) -> list[str]:
    rows = []
    start = time.perf_counter()
    for i in range(0, len(records), batch):
        await gallery.add(records[i : i + batch])
    seconds = time.perf_counter() - start
    assert await gallery.count("bench") == len(records)
    rows.append(f"| {label} | bulk enrol, batches of {batch} (incl. crops) | {len(records) / seconds:,.0f} faces/s |")
    singles = make_records(20, queries.shape[1], 1, seed=1)
    singles = [
        FaceRecord("bench", r.name, r.model_id, r.vector, f"single{i}", r.box, r.crop) for i, r in enumerate(singles)
    ]
    it = iter(singles)
    ms = await timed(lambda: gallery.add([next(it)]), len(singles))
    rows.append(f"| {label} | single enrolment (visible to the next search) | {summary(ms)} ms |")
    await gallery.search(queries[0], "bench", "bench-model", k=3)  # warm caches
    qs = iter(queries)
    ms = await timed(lambda: gallery._search(next(qs)[None, :], "bench", "bench-model", 3), len(queries) // 2)
    rows.append(f"| {label} | search, 1 face, top 3 characters (backend only) | {summary(ms)} ms |")
    ms = await timed(lambda: gallery.search(next(qs), "bench", "bench-model", k=3), len(queries) // 2)
    rows.append(f"| {label} | search, 1 face, top 3 + series/link lookup (`Gallery.search`) | {summary(ms)} ms |")
    return rows


async def run(args: argparse.Namespace) -> str:
    load_start = os.getloadavg()[0]
    records = make_records(args.faces, args.dim, args.per_character)
    queries = np.stack([r.vector for r in records[:: max(1, len(records) // args.queries)][: args.queries]])
    queries = queries + 0.3 * np.random.default_rng(2).normal(size=queries.shape).astype(np.float32)
    rows = []
    server = None
    url = args.url
    with tempfile.TemporaryDirectory() as tmp:
        if url is None:
            from tools.noida_server import NoidaServer

            server = NoidaServer(Path(tmp) / "noida")
            server.start()
            url = server.url
        try:
            for mode in ("knn", "script_score"):
                settings = ElasticsearchSettings(
                    hosts=[url], index=f"bench-{uuid.uuid4().hex[:8]}", replicas=0, search=mode
                )
                gallery = ElasticsearchGallery(settings)
                try:
                    label = f"Elasticsearch API ({'noida-db' if server else url}), {mode}"
                    rows += await bench(gallery, label, records, queries, args.batch)
                    await gallery.client.indices.delete(
                        index=[f"{settings.index}-v1", gallery.characters_index], ignore_unavailable=True
                    )
                finally:
                    await gallery.close()
            async with SQLiteGallery(Path(tmp) / "bench.sqlite3") as gallery:
                rows += await bench(gallery, "SQLite (embedded)", records, queries, args.batch)
        finally:
            if server is not None:
                server.stop()
    target = "a local noida-db server, an ES-compatible TEST server with brute-force kNN — not Elasticsearch"
    if server is None:
        target = f"the server at {url}"
    lines = [
        f"Measured with `python -m tools.bench_gallery {' '.join(args.argv)}`".rstrip() + f" against {target}. "
        f"{args.faces:,} faces of {args.dim} dims ({args.faces // args.per_character:,} characters, one scope), "
        f"each with a {len(records[0].crop):,}-byte JPEG crop; {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPU cores shared with other work (load average {load_start:.1f} at the start, "
        f"{os.getloadavg()[0]:.1f} at the end), server and client on the same machine. "
        "Latencies: median / p95 in ms. "
        "Do not read the Elasticsearch rows as Elasticsearch's speed: they time kaobot's client path and "
        "noida-db's brute-force search.",
        "",
        "| gallery | operation | result |",
        "|---|---|---|",
        *rows,
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    import sys

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=int, default=5000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--per-character", type=int, default=10)
    parser.add_argument("--queries", type=int, default=40)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--url", help="an Elasticsearch server to measure instead of a local noida-db")
    parser.add_argument("--out", help="write the section into this Markdown file (e.g. docs/benchmarks.md)")
    args = parser.parse_args(argv)
    given = list(sys.argv[1:] if argv is None else argv)
    args.argv = []  # the command line as printed, without --out
    skip = False
    for a in given:
        if skip or a.startswith("--out="):
            skip = False
            continue
        skip = a == "--out"
        if not skip:
            args.argv.append(a)
    section = asyncio.run(run(args))
    print(section)
    if args.out:
        write_section(Path(args.out), HEADING, section)


if __name__ == "__main__":
    main()
