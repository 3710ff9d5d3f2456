"""`kaobot bench`: one command that prints the benchmark tables and writes docs/benchmarks.md.

kaobot bench                      # everything (about 10 minutes on 2 cores; 1M-face HNSW not included)
kaobot bench --quick              # fewer repetitions, no 1M gallery
kaobot bench --ann-1m             # also build an HNSW graph over 1M faces (long on 2 cores)
kaobot bench --neighbour          # only /whois beside a busy process (mild and heavy), default vs animeface
kaobot bench --cold               # only a cold `kaobot whois`: wall time and peak RSS
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from recognition.checkpoints import save_checkpoint
from recognition.config import DetectorSettings, EmbedderSettings
from recognition.detect.nets import build_detection_net
from recognition.embed.nets import build_embedding_net

from . import pipeline as pl
from . import report
from . import search as sr

DEFAULT_PARTS = ("latency", "throughput", "search", "import", "web")


def torch_pipeline(tmp: Path) -> pl.Pipeline:
    """kaobot's torch models (FCOS-MobileNetV3 at 640 px, RGB MobileFaceNet 112 px), random weights."""
    import torch

    torch.manual_seed(0)
    det = build_detection_net("fcos_mobilenet_p3", min_size=640, max_size=640)
    save_checkpoint(
        tmp / "det.pt",
        kind="detector",
        model_id="bench-fcos",
        arch="fcos_mobilenet_p3",
        arch_kwargs={"min_size": 640, "max_size": 640},
        meta={},
        state_dict=det.state_dict(),
    )
    emb = build_embedding_net("mobilefacenet", dim=512)
    meta = {"input_size": 112, "margin": 0.2, "mean": [0.5] * 3, "std": [0.5] * 3, "dim": 512}
    save_checkpoint(
        tmp / "emb.pt",
        kind="embedder",
        model_id="bench-mfn",
        arch="mobilefacenet",
        arch_kwargs={"dim": 512},
        meta=meta,
        state_dict=emb.state_dict(),
    )
    return _pipeline(
        "kaobot torch (FCOS-MobileNetV3-P3 640 + MobileFaceNet RGB 112)",
        DetectorSettings(backend="torch", checkpoint=str(tmp / "det.pt"), device="cpu", min_size=16),
        EmbedderSettings(backend="torch", checkpoint=str(tmp / "emb.pt"), device="cpu"),
    )


def onnx_pipeline(tmp: Path) -> pl.Pipeline:
    """The torch pipeline's checkpoints (written by `torch_pipeline`) exported and run by onnxruntime."""
    from training.export import export_onnx

    for name in ("det", "emb"):
        export_onnx(tmp / f"{name}.pt", tmp / f"{name}.onnx")
    return _pipeline(
        "kaobot torch models via ONNX Runtime (same models, `backend: onnx`)",
        DetectorSettings(backend="onnx", checkpoint=str(tmp / "det.onnx"), device="cpu", min_size=16),
        EmbedderSettings(backend="onnx", checkpoint=str(tmp / "emb.onnx"), device="cpu"),
    )


def _pipeline(name: str, detector: DetectorSettings, embedder: EmbedderSettings) -> pl.Pipeline:
    """A pipeline built from settings, as kaobot builds it (worker processes rebuild it from them)."""
    from recognition.detect import build_detector
    from recognition.embed import build_embedder

    return pl.Pipeline(name, build_detector(detector), build_embedder(embedder), (detector, embedder))


def default_pipelines() -> list[pl.Pipeline]:
    """Today's default, the previous default and the one before (the models kaobot ships)."""
    return [
        _pipeline(
            "kaobot default (shipped FCOS-MobileNetV3 + EfficientNet-Lite0 ⊕ head ⊕ baseline)",
            DetectorSettings(device="cpu"),
            EmbedderSettings(device="cpu"),
        ),
        _pipeline(
            "previous default (shipped FCOS-MobileNetV3 + head ⊕ baseline)",
            DetectorSettings(device="cpu"),
            EmbedderSettings(backend="projected", device="cpu"),
        ),
        _pipeline(
            "default before 2026-11-28 (animeface + baseline)",
            DetectorSettings(backend="animeface"),
            EmbedderSettings(backend="baseline"),
        ),
    ]


def pipelines(tmp: Path) -> list[pl.Pipeline]:
    from .original import OriginalDetector, OriginalEmbedder

    return [
        *default_pipelines(),
        torch_pipeline(tmp),
        onnx_pipeline(tmp),
        pl.Pipeline("original (YOLOv5m 640 + FaceMobileNet grey 128)", OriginalDetector(), OriginalEmbedder()),
    ]


def _ms(pair: tuple[float, float]) -> str:
    return f"{pair[0]:.0f} / {pair[1]:.0f}"


async def bench(args: argparse.Namespace) -> dict[str, str]:
    sections: dict[str, str] = {}
    reps = 3 if args.quick else args.reps
    chosen = {p for p in ("neighbour", "cold") if getattr(args, p, False)}
    parts = set(args.only or ()) | chosen or set(DEFAULT_PARTS)
    if "neighbour" in parts:
        from . import neighbour

        pipes = [p for p in default_pipelines() if p.name.startswith(("kaobot default", "default before"))]  # default, animeface
        sections["Beside a busy neighbour"] = await neighbour.neighbour_section(pipes, 8 if args.quick else args.reps)
    if "cold" in parts:
        from . import neighbour

        sections["Cold start"] = (
            neighbour.cold_section(2 if args.quick else 3) + "\n\n" + neighbour.warm_section(5 if args.quick else args.reps)
        )
    if parts & {"latency", "throughput"}:
        sections |= await bench_pipelines(args, reps, parts)
    if "search" in parts:
        sections["Gallery search"] = bench_search(args)
    if "import" in parts:
        sections["Bulk import"] = await bulk_import(16 if args.quick else 48)
    if "web" in parts:
        sections["Web API overhead"] = await web_overhead(5 if args.quick else max(args.reps, 20))
    return sections


async def web_overhead(reps: int) -> str:
    """`POST /api/whois` of `kaobot web` against the service's own `identify` (tools/bench/web.py)."""
    from .web import whois_overhead

    r = await whois_overhead(reps)
    row = [
        r["size"],
        r["faces"],
        _ms(r["service"]),
        _ms(r["web"]),
        f"{r['outside'][0]:.1f} / {r['outside'][1]:.1f}",
        f"{r['added_p50']:.1f}",
    ]
    print(" | ".join(map(str, row)), flush=True)
    return (
        f"`POST /api/whois` of `kaobot web` against `Recognizer.identify` on the same recognizer (default models, "
        f"the batching inference worker, a SQLite gallery of {pl.GALLERY_FACES} faces), {r['reps']} runs of each, "
        "alternating, after one warm-up; p50 / p95 in ms. The web figure is a real HTTP request on a local TCP "
        "connection (client multipart encoding, server, streamed form reading, JSON both ways; client and server "
        f"in one process). {report.machine()}; `uptime` load averages (1, 5, 15 min) {r['load_before']} before "
        f"and {r['load_after']} after. Added by the web layer: each request's time outside the `identify` it awaited "
        "(p50 / p95), and, less precise on a shared CPU (recognition's own variation is larger than the overhead), "
        "web p50 − identify p50.\n\n"
        + report.table(
            ["picture", "faces", "identify ms", "/api/whois ms", "added ms (outside identify)", "added ms (p50 − p50)"],
            [row],
        )
    )


async def bench_pipelines(args: argparse.Namespace, reps: int, parts: set[str]) -> dict[str, str]:
    from threadpoolctl import threadpool_limits

    sections: dict[str, str] = {}
    # BLAS on one thread, as `build_recognizer` serves (recognition.device.single_threaded_blas).
    with tempfile.TemporaryDirectory() as tmp, threadpool_limits(limits=1, user_api="blas"):
        pipes = pipelines(Path(tmp))
        if args.pipeline:
            pipes = [p for p in pipes if any(word in p.name for word in args.pipeline)]

        rows = []
        for p in pipes if "latency" in parts else []:
            for r in await pl.stage_latency(p, reps):
                rows.append(
                    [
                        p.name,
                        r["size"],
                        r["faces"],
                        *(_ms(r[k]) for k in ("decode", "detect", "embed", "search", "total")),
                    ]
                )
                print(" | ".join(map(str, rows[-1])), flush=True)
        if rows:
            sections["Per-picture latency by stage"] = (
                f"`kaobot bench` ({reps} runs after one warm-up; p50 / p95 in ms; {report.machine()}). "
                f"Search: a SQLite gallery of {pl.GALLERY_FACES} faces. The default rows use the shipped models; "
                "the `kaobot torch` and ONNX rows have random weights (same arithmetic as trained ones). Numpy's "
                "BLAS runs on one thread, as kaobot serves. The `/whois` path is decode + detect + embed + "
                "search.\n\n"
                + report.table(["pipeline", "picture", "faces", "decode", "detect", "embed", "search", "total"], rows)
            )

        rows = []
        requests = 16 if args.quick else 32
        throughput_pipes = pipes[:2]  # kaobot default, previous default
        for p in throughput_pipes if "throughput" in parts else []:
            for concurrency in (1, 4, 16):
                unbatched, cores_u = await pl.throughput(p, concurrency, False, requests)
                batched, cores_b = await pl.throughput(p, concurrency, True, requests)
                procs, cores_p = await pl.throughput(p, concurrency, True, requests, processes=os.cpu_count() or 1)
                rows.append(
                    [
                        p.name,
                        concurrency,
                        f"{unbatched:.2f} ({cores_u:.1f})",
                        f"{batched:.2f} ({cores_b:.1f})",
                        f"{batched / unbatched:.2f}×",
                        f"{procs:.2f} ({cores_p:.1f})",
                        f"{procs / unbatched:.2f}×",
                    ]
                )
                print(" | ".join(map(str, rows[-1])), flush=True)
        if rows:
            sections["Throughput, batched vs unbatched"] = (
                f"Pictures per second through `Recognizer.identify` (512×512, 3 faces, {requests} requests per cell). "
                "Unbatched: one inference thread, one picture at a time. Batched: up to 16 pictures per batch (one "
                "forward pass for torch models) in one thread, or in one worker process per core "
                "(`inference.processes`). In brackets: CPU cores kept busy (CPU seconds of the process and its worker "
                f"processes per wall second, of {os.cpu_count()}).\n\n"
                + report.table(
                    [
                        "pipeline",
                        "concurrent",
                        "unbatched /s (cores)",
                        "batched /s (cores)",
                        "ratio",
                        f"batched, {os.cpu_count()} processes /s (cores)",
                        "ratio",
                    ],
                    rows,
                )
            )
    return sections


def bench_search(args: argparse.Namespace) -> str:
    rows = []
    sizes = args.sizes or ([10_000, 100_000] if args.quick else [10_000, 100_000, 1_000_000])
    for n in sizes:
        ann = n < 1_000_000 or args.ann_1m
        for r in sr.run(n, ann=ann, queries=100 if n >= 1_000_000 else 200):
            rows.append(
                [
                    f"{n:,}",
                    r["mode"],
                    f"{r['p50']:.2f} / {r['p95']:.2f}",
                    f"{r['recall']:.3f}",
                    "" if r["top3"] is None else f"{r['top3']:.3f}",
                    f"{r['bytes'] / 2**20:.0f}",
                    f"{r['build_s']:.1f}" if "build_s" in r else "",
                ]
            )
            print(" | ".join(map(str, rows[-1])), flush=True)
    return (
        f"One query at a time, top-3 characters, 512-d clustered synthetic vectors (10 faces per character, "
        f"cosine ≈ 0.8 to their centre), {os.cpu_count()} threads. recall@1: the first character is the one of "
        "float32 brute force's best face; top-3 exact: the three characters and their similarities equal the "
        "exact float32 ones. Memory: growth of the process's resident memory while the index was built (the "
        "float32 matrix for exact re-ranking, int8 copies, ONNX Runtime's packed copy, the HNSW graph); for brute "
        "force the matrix itself. `--ann-1m` adds HNSW at 1M.\n\n"
        + report.table(["faces", "mode", "p50 / p95 ms", "recall@1", "top-3 exact", "memory MiB", "build s"], rows)
    )


async def bulk_import(pictures: int) -> str:
    """`kaobot import` throughput (decode, detect, embed, store) on drawn pictures, default pipeline."""
    from recognition import build_recognizer
    from recognition.config import Settings
    from tools.bulk_import import import_folders

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "people"
        for i in range(pictures):
            folder = root / f"c{i % 8}"
            folder.mkdir(parents=True, exist_ok=True)
            data, _ = pl.scene((400, 400), 1, seed=i)
            (folder / f"{i}.png").write_bytes(data)
        settings = Settings()
        settings.data_dir = str(Path(tmp) / "data")
        rec = build_recognizer(settings)
        start = time.perf_counter()
        summary = await import_folders(rec, root, "bench", progress=False)
        elapsed = time.perf_counter() - start
        await rec.close()
    line = (
        f"`kaobot import` of {pictures} drawn 400×400 pictures (default pipeline, SQLite): "
        f"{summary.enrolled} faces in {elapsed:.1f} s = {summary.enrolled / elapsed:.1f} faces/s "
        "(dominated by detection; the SQLite gallery alone stores thousands of faces per second, see "
        '"Gallery backends" below).'
    )
    print(line)
    return line


def cmd_bench(args: argparse.Namespace) -> int:
    np.random.seed(0)
    sections = asyncio.run(bench(args))
    if not args.no_write:
        for heading, body in sections.items():
            report.write_section(Path(args.out), heading, body)
        print(f"written to {args.out}")
    return 0
