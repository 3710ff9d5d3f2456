"""Which approximate index for large galleries: usearch HNSW vs faiss IVF, on the bench's vectors.

    python -m tools.bench.ann_choice --faces 200000        # faiss rows only when faiss-cpu is installed

Prints build time, p50 per query (64 candidates, re-scored in float32) and recall@1 against float32
brute force, for HNSW at several expansions and IVF at several nprobe values. faiss is not a
kaobot dependency; this script is how usearch was chosen (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from recognition.gallery.int8_scan import quantize_int8

from .search import clustered


def _measure(name: str, build_s: float, search, faces: np.ndarray, probes: np.ndarray, best: np.ndarray) -> None:
    times, hits = [], 0
    for q, expected in zip(probes, best):
        start = time.perf_counter()
        rows = search(q)
        times.append(time.perf_counter() - start)
        rows = rows[rows >= 0]
        hits += int(rows[np.argmax(faces[rows] @ q)] == expected)
    print(f"{name}: build {build_s:.1f} s, p50 {np.median(times) * 1000:.2f} ms, recall@1 {hits / len(probes):.3f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=int, default=200_000)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args(argv)
    threads = os.cpu_count() or 1
    faces, _, _, probes = clustered(args.faces, queries=args.queries)
    best = np.array([int(np.argmax(faces @ q)) for q in probes])
    print(f"{args.faces:,} faces, {threads} threads, load {os.getloadavg()[0]:.1f}")

    from usearch.index import Index

    scale = 127.0 / float(np.quantile(np.abs(faces[:: max(1, args.faces // 4096)]), 0.9999))
    start = time.perf_counter()
    hnsw = Index(ndim=faces.shape[1], metric="ip", dtype="i8", connectivity=16)
    hnsw.add(np.arange(len(faces)), quantize_int8(faces, scale), threads=threads)
    built = time.perf_counter() - start
    for expansion in (64, 128, 256):
        hnsw.expansion_search = expansion

        def search(q, hnsw=hnsw):
            return np.asarray(hnsw.search(quantize_int8(q, scale), 64).keys, dtype=np.int64)

        _measure(f"usearch HNSW int8, expansion {expansion}", built, search, faces, probes, best)

    try:
        import faiss
    except ImportError:
        print("faiss not installed: IVF skipped")
        return 0
    faiss.omp_set_num_threads(threads)
    lists = int(4 * np.sqrt(args.faces))
    start = time.perf_counter()
    ivf = faiss.IndexIVFFlat(faiss.IndexFlatIP(faces.shape[1]), faces.shape[1], lists, faiss.METRIC_INNER_PRODUCT)
    sample = np.random.default_rng(0).choice(len(faces), min(len(faces), lists * 40), replace=False)
    ivf.train(faces[sample])
    ivf.add(faces)
    built = time.perf_counter() - start
    for nprobe in (16, 64, 128):
        ivf.nprobe = nprobe

        def search(q, ivf=ivf):
            return ivf.search(q[None], 64)[1][0].astype(np.int64)

        _measure(f"faiss IVF-Flat {lists} lists, nprobe {nprobe}", built, search, faces, probes, best)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
