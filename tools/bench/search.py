"""Gallery search at 10k, 100k and 1M faces: float32 brute force vs int8 + re-rank vs HNSW.

Vectors are clustered the way real embeddings are: each character has a centre and its faces
lie around it (cosine to the centre ≈ 0.8); queries are new faces of random characters.
recall@1 = share of queries whose best face is the float32 brute-force best face.
"""

from __future__ import annotations

import os
import time

import numpy as np

from recognition.gallery.vector_index import SearchTuning, VectorIndex


def clustered(n: int, dim: int = 512, per_character: int = 10, queries: int = 200, seed: int = 0):
    rng = np.random.default_rng(seed)
    characters = max(1, n // per_character)

    def unit(a):
        return a / np.linalg.norm(a, axis=-1, keepdims=True)

    centres = unit(rng.standard_normal((characters, dim), dtype=np.float32))
    labels = rng.integers(0, characters, n)
    faces = np.empty((n, dim), np.float32)
    for start in range(0, n, 100_000):  # in chunks: 1M × 512 floats is 2 GB
        stop = min(n, start + 100_000)
        noise = unit(rng.standard_normal((stop - start, dim), dtype=np.float32))
        faces[start:stop] = unit(centres[labels[start:stop]] + 0.75 * noise)
    q_labels = rng.integers(0, characters, queries)
    probes = unit(centres[q_labels] + 0.75 * unit(rng.standard_normal((queries, dim), dtype=np.float32)))
    return faces, labels, [f"c{i}" for i in range(characters)], probes


def _time_queries(fn, probes: np.ndarray) -> tuple[float, float, list]:
    fn(probes[0])
    times, answers = [], []
    for q in probes:
        t = time.perf_counter()
        answers.append(fn(q))
        times.append(time.perf_counter() - t)
    return float(np.percentile(times, 50)) * 1000, float(np.percentile(times, 95)) * 1000, answers


def run(n: int, ann: bool, queries: int = 200, dim: int = 512) -> list[dict]:
    """Rows for one gallery size: mode, p50/p95 ms per query (top-3 characters), recall@1, memory."""
    faces, labels, names, probes = clustered(n, dim, queries=queries)
    rows = []
    exact_best = (
        np.argmax(probes @ faces.T, axis=1) if n <= 100_000 else np.array([int(np.argmax(faces @ q)) for q in probes])
    )

    def brute(q):  # what kaobot did before: float32 scores of every face
        return int(np.argmax(faces @ q))

    p50, p95, _ = _time_queries(brute, probes)
    rows.append(
        {
            "faces": n,
            "mode": "float32 brute force (argmax)",
            "p50": p50,
            "p95": p95,
            "recall": 1.0,
            "bytes": faces.nbytes,
        }
    )

    modes = [("exact float32, best per character", SearchTuning(quantize_above=10**12, ann_above=None))]
    modes.append(("int8 scan + float32 re-rank", SearchTuning(quantize_above=0, ann_above=None)))
    if ann:
        threads = os.cpu_count() or 1
        modes.append(
            ("HNSW int8 + float32 re-rank", SearchTuning(quantize_above=0, ann_above=0, build_threads=threads))
        )
    row_of = np.argsort(labels, kind="stable")  # VectorIndex sorts its rows by character
    for label, tuning in modes:
        build = time.perf_counter()
        index = VectorIndex(faces, labels, names, tuning)
        if tuning.ann_above is not None:
            while index.mode != "hnsw":
                time.sleep(0.5)
        build = time.perf_counter() - build

        def best_face(q, index=index, row_of=row_of):
            rows_ = index.candidates(q)
            return int(row_of[rows_[np.argmax(index.matrix[rows_] @ q)]])

        p50, p95, _ = _time_queries(lambda q, index=index: index.search(q[None], 3), probes)
        recall = float(np.mean([best_face(q) == e for q, e in zip(probes, exact_best)]))
        memory = index.nbytes + (index._ann.memory_usage if index._ann is not None else 0)
        rows.append(
            {"faces": n, "mode": label, "p50": p50, "p95": p95, "recall": recall, "bytes": memory, "build_s": build}
        )
    return rows
