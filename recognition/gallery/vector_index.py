"""In-memory search over the faces of one (scope, model id): exact, quantised, or approximate.

* Up to `quantize_above` faces: exact float32 cosine over every face (numpy BLAS).
* From `quantize_above` (off by default): an int8 copy of the vectors is scanned exactly (usearch),
  the best `rerank` faces are re-scored exactly in float32; the top face is the exact one (tests
  check recall@1 = 1.0). It scans a quarter of the bytes, but on the 2-core AVX-512 build machine
  numpy's float32 BLAS was faster (100k faces: 11 ms vs 23 ms, docs/benchmarks.md), so it only
  pays where memory bandwidth, not arithmetic, limits the scan.
* From `ann_above` (when set): an HNSW graph (usearch, int8) answers in about a millisecond. The
  graph is built in a background thread; queries use the int8 scan until it is ready.

Characters are ranked by their best face.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

import numpy as np

from .base import Candidate

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SearchTuning:
    quantize_above: int | None = None
    ann_above: int | None = 500_000
    rerank: int = 64
    build_threads: int = 1  # threads building the HNSW graph (in the background)


class VectorIndex:
    """Unit vectors with a character code each; see the module docstring."""

    def __init__(
        self, matrix: np.ndarray, codes: np.ndarray, names: list[str], tuning: SearchTuning | None = None
    ) -> None:
        order = np.argsort(codes, kind="stable")  # rows of one character together
        self.matrix = np.ascontiguousarray(np.asarray(matrix, dtype=np.float32)[order])
        self.codes = np.asarray(codes, dtype=np.int64)[order]
        self.names = names
        self._starts = np.flatnonzero(np.r_[True, self.codes[1:] != self.codes[:-1]]) if len(self.codes) else self.codes
        self._segment_names = [names[c] for c in self.codes[self._starts]]
        self.tuning = tuning or SearchTuning()
        self._int8: np.ndarray | None = None
        self._scale = 1.0
        self._ann = None
        n = len(self.matrix)
        use_ann = self.tuning.ann_above is not None and n >= self.tuning.ann_above
        if (self.tuning.quantize_above is not None and n >= self.tuning.quantize_above) or use_ann:
            # One scale for the whole matrix (from a sample of rows), so int8 dot products keep the ranking.
            sample = np.abs(self.matrix[:: max(1, n // 4096)])
            self._scale = 127.0 / max(float(np.quantile(sample, 0.9999)), 1e-6)
            self._int8 = quantize_int8(self.matrix, self._scale)
        if use_ann:
            threading.Thread(target=self._build_ann, name="kaobot-ann-build", daemon=True).start()

    @property
    def mode(self) -> str:
        if self._ann is not None:
            return "hnsw"
        return "int8" if self._int8 is not None else "exact"

    @property
    def nbytes(self) -> int:
        """Memory held by the vectors (float32 + int8 copy; the HNSW graph is not counted)."""
        return self.matrix.nbytes + (self._int8.nbytes if self._int8 is not None else 0) + self.codes.nbytes

    def _build_ann(self) -> None:
        from usearch.index import Index

        index = Index(ndim=self.matrix.shape[1], metric="ip", dtype="i8", connectivity=16)
        index.add(np.arange(len(self.matrix)), self._int8, threads=self.tuning.build_threads)
        self._ann = index
        log.info("HNSW index of %d faces ready", len(self.matrix))

    def candidates(self, query: np.ndarray) -> np.ndarray:
        """Row numbers of the faces to score exactly for one query (all rows when exact)."""
        count = min(len(self.matrix), self.tuning.rerank)
        if self._ann is not None:
            return np.asarray(self._ann.search(quantize_int8(query, self._scale), count).keys, dtype=np.int64)
        if self._int8 is not None:
            from usearch.index import MetricKind, search

            found = search(self._int8, quantize_int8(query, self._scale), count, MetricKind.IP, exact=True, threads=1)
            return np.asarray(found.keys, dtype=np.int64)
        return np.arange(len(self.matrix))

    def search(self, queries: np.ndarray, k: int) -> list[list[Candidate]]:
        """Top-k characters per query by their best face's exact cosine similarity."""
        results = []
        if not self.names:
            return [[] for _ in range(len(queries))]
        if self._int8 is None and self._ann is None:
            best = np.maximum.reduceat(queries @ self.matrix.T, self._starts, axis=1)  # (q, characters)
            top = np.argsort(-best, axis=1)[:, :k]
            return [[Candidate(self._segment_names[i], float(row[i])) for i in idx] for row, idx in zip(best, top)]
        for query in queries:
            rows = self.candidates(query)
            results.append(self._rank(rows, self.matrix[rows] @ query, k))
        return results

    def _rank(self, rows: np.ndarray, scores: np.ndarray, k: int) -> list[Candidate]:
        best = np.full(len(self.names), -np.inf, np.float32)
        np.maximum.at(best, self.codes[rows], scores)
        top = np.argsort(-best)[:k]
        return [Candidate(self.names[i], float(best[i])) for i in top if np.isfinite(best[i])]


def quantize_int8(vectors: np.ndarray, scale: float) -> np.ndarray:
    """Components multiplied by `scale`, rounded and clipped to int8."""
    return np.clip(np.rint(vectors * scale), -127, 127).astype(np.int8)
