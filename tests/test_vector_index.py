"""Quantised and approximate search must find the same best face as float32 brute force."""

import time

import numpy as np
import pytest

from recognition.gallery.vector_index import SearchTuning, VectorIndex


def _clustered(n: int, characters: int, dim: int = 128, seed: int = 0):
    """Unit vectors clustered by character, as real embeddings are (not uniform noise)."""
    rng = np.random.default_rng(seed)

    def unit(a):
        return a / np.linalg.norm(a, axis=-1, keepdims=True)

    centres = unit(rng.standard_normal((characters, dim)).astype(np.float32))
    labels = rng.integers(0, characters, n)
    faces = unit(centres[labels] + 0.75 * unit(rng.standard_normal((n, dim)).astype(np.float32)))
    q_labels = rng.integers(0, characters, 100)
    queries = unit(centres[q_labels] + 0.75 * unit(rng.standard_normal((100, dim)).astype(np.float32)))
    return faces, labels, [f"c{i}" for i in range(characters)], queries


def _top1(index: VectorIndex, queries):
    return [index.search(q[None], 3)[0][0] for q in queries]


def test_int8_scan_with_rerank_keeps_recall_at_1():
    faces, labels, names, queries = _clustered(6000, 600)
    exact = VectorIndex(faces, labels, names, SearchTuning(quantize_above=10**9, ann_above=None))
    quantised = VectorIndex(faces, labels, names, SearchTuning(quantize_above=1000, ann_above=None, rerank=32))
    assert exact.mode == "exact" and quantised.mode == "int8"
    for a, b in zip(_top1(exact, queries), _top1(quantised, queries)):
        assert a.name == b.name
        assert a.similarity == pytest.approx(b.similarity, abs=1e-6)  # re-ranked exactly in float32


def test_hnsw_is_built_in_the_background_and_finds_the_character():
    faces, labels, names, queries = _clustered(4000, 400)
    exact = VectorIndex(faces, labels, names, SearchTuning(quantize_above=10**9, ann_above=None))
    ann = VectorIndex(faces, labels, names, SearchTuning(quantize_above=1000, ann_above=1000, rerank=32))
    deadline = time.monotonic() + 60
    while ann.mode != "hnsw" and time.monotonic() < deadline:
        _top1(ann, queries[:1])  # searches keep working (int8 scan) while the graph builds
        time.sleep(0.05)
    assert ann.mode == "hnsw"
    agree = np.mean([a.name == b.name for a, b in zip(_top1(exact, queries), _top1(ann, queries))])
    assert agree >= 0.95


def test_unsorted_codes_and_k_larger_than_characters():
    matrix = np.eye(4, dtype=np.float32)
    index = VectorIndex(matrix, np.array([1, 0, 1, 0]), ["a", "b"])
    (hits,) = index.search(np.array([[0, 0, 1, 0]], np.float32), k=5)
    assert [(h.name, round(h.similarity, 3)) for h in hits] == [("b", 1.0), ("a", 0.0)]
