"""Gallery search at 10k, 100k and 1M faces: float32 brute force vs the gallery's search modes.

Vectors are clustered the way real embeddings are: each character has a centre and its faces
lie around it (cosine to the centre ≈ 0.8); queries are new faces of random characters.
recall@1: share of queries whose first character is the character of float32 brute force's best
face; "top-3 exact": share whose three characters and similarities equal the exact float32 ones.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

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


def _rss() -> int:
    """Resident memory of this process in bytes (Linux), 0 where unknown."""
    try:
        return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


ANN_EXPANSIONS = (64, 128, 256)


def modes(ann: bool) -> list[tuple[str, SearchTuning]]:
    chosen = [
        ("exact float32, best per character", SearchTuning(quantize_above=None, ann_above=None)),
        ("int8 scan (ONNX Runtime) + exact re-rank", SearchTuning(quantize_above=0, ann_above=None)),
    ]
    if ann:  # one graph, searched with each expansion in turn
        chosen.append(("HNSW int8 + float32 re-rank of 64", SearchTuning(0, 0, build_threads=os.cpu_count() or 1)))
    return chosen


def run(n: int, ann: bool, queries: int = 200, dim: int = 512) -> list[dict]:
    """Rows for one gallery size: mode, p50/p95 ms per query (top-3 characters), recall@1, memory."""
    faces, labels, names, probes = clustered(n, dim, queries=queries)
    exact_scores = [faces @ q for q in probes]
    exact_best = [names[labels[int(np.argmax(s))]] for s in exact_scores]
    exact_top3 = []
    for s in exact_scores:
        per_character = np.full(len(names), -np.inf, np.float32)
        np.maximum.at(per_character, labels, s)
        top = np.argsort(-per_character)[:3]
        exact_top3.append([(names[i], float(per_character[i])) for i in top])
    del exact_scores

    def brute(q):  # what a plain search does: float32 scores of every face
        return int(np.argmax(faces @ q))

    p50, p95, _ = _time_queries(brute, probes)
    rows = [
        {
            "faces": n,
            "mode": "float32 brute force (argmax)",
            "p50": p50,
            "p95": p95,
            "recall": 1.0,
            "top3": None,
            "bytes": faces.nbytes,
        }
    ]
    for label, tuning in modes(ann):
        before = _rss()
        build = time.perf_counter()
        index = VectorIndex(faces, labels, names, tuning)
        if tuning.ann_above is not None:
            while index.mode != "hnsw":
                time.sleep(0.2)
        build = time.perf_counter() - build
        held = _rss() - before
        for expansion in ANN_EXPANSIONS if tuning.ann_above is not None else (None,):
            if expansion is not None:
                index.set_ann_expansion(expansion)
            p50, p95, answers = _time_queries(lambda q, index=index: index.search(q[None], 3)[0], probes)
            recall = float(np.mean([a[0].name == e for a, e in zip(answers, exact_best)]))
            top3 = float(
                np.mean(
                    [
                        [c.name for c in a] == [name for name, _ in e]
                        and np.allclose([c.similarity for c in a], [s for _, s in e], atol=1e-5)
                        for a, e in zip(answers, exact_top3)
                    ]
                )
            )
            rows.append(
                {
                    "faces": n,
                    "mode": label if expansion is None else f"{label}, expansion {expansion}",
                    "p50": p50,
                    "p95": p95,
                    "recall": recall,
                    "top3": top3,
                    "bytes": held if held > 0 else index.nbytes,
                    "build_s": build,
                }
            )
        del index
    return rows
