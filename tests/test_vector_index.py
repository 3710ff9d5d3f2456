"""The int8 scan must give exactly float32's answers; HNSW must find the same best face nearly always."""

import time

import numpy as np
import pytest

from recognition.gallery import int8_scan
from recognition.gallery.vector_index import SearchTuning, VectorIndex

EXACT = SearchTuning(quantize_above=None, ann_above=None)
INT8 = SearchTuning(quantize_above=0, ann_above=None)


def _unit(a):
    return a / np.linalg.norm(a, axis=-1, keepdims=True)


def _clustered(n: int, characters: int, dim: int = 128, seed: int = 0, spread: float = 0.75):
    """Unit vectors clustered by character, as real embeddings are (not uniform noise)."""
    rng = np.random.default_rng(seed)
    centres = _unit(rng.standard_normal((characters, dim)).astype(np.float32))
    labels = rng.integers(0, characters, n)
    faces = _unit(centres[labels] + spread * _unit(rng.standard_normal((n, dim)).astype(np.float32)))
    q_labels = rng.integers(0, characters, 100)
    queries = _unit(centres[q_labels] + spread * _unit(rng.standard_normal((100, dim)).astype(np.float32)))
    return faces, labels, [f"c{i}" for i in range(characters)], queries


def _assert_same(expected, got):
    for a, b in zip(expected, got):
        assert [c.name for c in a] == [c.name for c in b]
        assert [c.similarity for c in a] == pytest.approx([c.similarity for c in b], abs=1e-6)


def _search_all(index: VectorIndex, queries, k: int = 3):
    return [index.search(q[None], k)[0] for q in queries]


@pytest.mark.parametrize(
    ("n", "characters", "dim", "spread", "k"),
    [
        (6000, 600, 128, 0.75, 3),  # clustered, like embeddings
        (3000, 30, 64, 3.0, 5),  # loose clusters: many near-ties among candidates
        (2000, 2000, 512, 100.0, 1),  # one face per character, almost uniform noise
        (500, 5, 32, 0.2, 10),  # k larger than the number of characters
    ],
)
def test_int8_scan_gives_exactly_the_float32_answer(n, characters, dim, spread, k):
    faces, labels, names, queries = _clustered(n, characters, dim, spread=spread, seed=n)
    exact = VectorIndex(faces, labels, names, EXACT)
    quantised = VectorIndex(faces, labels, names, INT8)
    assert exact.mode == "exact" and quantised.mode == "int8"
    _assert_same(_search_all(exact, queries, k), _search_all(quantised, queries, k))
    batched = quantised.search(queries, k)  # several queries in one ONNX Runtime call
    _assert_same(_search_all(exact, queries, k), batched)


def test_error_bound_holds_for_every_face():
    faces, _, _, queries = _clustered(4000, 40, 256, spread=1.5)
    scan = int8_scan.Int8Scan(faces, threads=1)
    approx = scan.scores(queries)
    for q, row in zip(queries, approx):
        assert np.all(np.abs(row - faces @ q) <= scan.error_bounds(q))


def test_scan_split_over_several_sessions(monkeypatch):
    monkeypatch.setattr(int8_scan, "ROWS_PER_SESSION_BYTES", 64 * 700)  # 700 rows of 64 bytes per session
    faces, labels, names, queries = _clustered(2500, 100, 64)
    scan = int8_scan.Int8Scan(faces)
    assert len(scan._sessions) == 4
    exact = VectorIndex(faces, labels, names, EXACT)
    _assert_same(_search_all(exact, queries), _search_all(VectorIndex(faces, labels, names, INT8), queries))


def test_hnsw_is_built_in_the_background_and_finds_the_character():
    faces, labels, names, queries = _clustered(4000, 400)
    exact = VectorIndex(faces, labels, names, EXACT)
    ann = VectorIndex(faces, labels, names, SearchTuning(quantize_above=1000, ann_above=1000, rerank=32))
    deadline = time.monotonic() + 60
    while ann.mode != "hnsw" and time.monotonic() < deadline:
        ann.search(queries[:1], 3)  # searches keep working (exact int8 scan) while the graph builds
        time.sleep(0.05)
    assert ann.mode == "hnsw"
    agree = np.mean([a[0].name == b[0].name for a, b in zip(_search_all(exact, queries), _search_all(ann, queries))])
    assert agree >= 0.95


def test_unsorted_codes_and_k_larger_than_characters():
    matrix = np.eye(4, dtype=np.float32)
    for tuning in (EXACT, INT8):
        index = VectorIndex(matrix, np.array([1, 0, 1, 0]), ["a", "b"], tuning)
        (hits,) = index.search(np.array([[0, 0, 1, 0]], np.float32), k=5)
        assert [(h.name, round(h.similarity, 3)) for h in hits] == [("b", 1.0), ("a", 0.0)]
