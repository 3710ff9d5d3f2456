"""In-memory search over the faces of one (scope, model id): exact, int8-accelerated, or approximate.

* Below `quantize_above` faces: exact float32 cosine over every face (numpy BLAS).
* From `quantize_above`: an int8 copy of the faces is scanned by ONNX Runtime (`int8_scan.py`),
  whose scores are within a proven bound of the float32 ones; every face that could still reach
  the top-k characters is re-scored exactly in float32. The answer is the exact one (same
  characters, same similarities), about 4× faster than float32 at 100k faces on 2 cores.
* From `ann_above` (when set): an HNSW graph (usearch, int8) proposes `rerank` faces, re-scored in
  float32 — about a millisecond at any size, but approximate (recall@1 in docs/benchmarks.md). The
  graph is built in a background thread; queries use the exact int8 scan until it is ready.

Characters are ranked by their best face.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass

import numpy as np

from .base import Candidate
from .int8_scan import Int8Scan, quantize_int8

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SearchTuning:
    quantize_above: int | None = 20_000
    ann_above: int | None = None
    rerank: int = 64  # faces an HNSW search proposes for exact re-scoring
    build_threads: int = 1  # threads building the HNSW graph (in the background)
    scan_threads: int = 0  # ONNX Runtime threads of the int8 scan (0: one per core)
    ann_expansion: int = 128  # HNSW expansion_search: candidates visited per query (more: better recall)


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
        self._segment_codes = self.codes[self._starts]
        self.tuning = tuning or SearchTuning()
        self._scan: Int8Scan | None = None
        self._ann = None
        n = len(self.matrix)
        use_ann = self.tuning.ann_above is not None and n >= self.tuning.ann_above
        if n and ((self.tuning.quantize_above is not None and n >= self.tuning.quantize_above) or use_ann):
            threads = self.tuning.scan_threads or (os.cpu_count() or 1)
            self._scan = Int8Scan(self.matrix, threads=threads, keep_vectors=use_ann)
        if use_ann:
            threading.Thread(target=self._build_ann, name="kaobot-ann-build", daemon=True).start()

    @property
    def mode(self) -> str:
        if self._ann is not None:
            return "hnsw"
        return "int8" if self._scan is not None else "exact"

    @property
    def nbytes(self) -> int:
        """Memory held by the vectors (float32 + int8 copies; the HNSW graph is not counted)."""
        int8 = (
            0
            if self._scan is None
            else self._scan.nbytes + (0 if self._scan.vectors is None else self._scan.vectors.nbytes)
        )
        return self.matrix.nbytes + int8 + self.codes.nbytes

    def _build_ann(self) -> None:
        from usearch.index import Index

        assert self._scan is not None and self._scan.vectors is not None
        index = Index(
            ndim=self.matrix.shape[1],
            metric="ip",
            dtype="i8",
            connectivity=16,
            expansion_search=self.tuning.ann_expansion,
        )
        index.add(np.arange(len(self.matrix)), self._scan.vectors, threads=self.tuning.build_threads)
        self._ann = index
        self._scan.vectors = None  # the graph holds its own copy
        log.info("HNSW index of %d faces ready", len(self.matrix))

    def set_ann_expansion(self, expansion: int) -> None:
        """Candidates the HNSW graph visits per query from now on (more: better recall, slower)."""
        if self._ann is not None:
            self._ann.expansion_search = expansion

    def search(self, queries: np.ndarray, k: int) -> list[list[Candidate]]:
        """Top-k characters per query by their best face's cosine similarity (exact unless HNSW)."""
        if not self.names or not len(self.matrix):
            return [[] for _ in range(len(queries))]
        if self._ann is not None:
            return [self._rank(self._ann_rows(q), q, k) for q in queries]
        if self._scan is None:
            best = np.maximum.reduceat(queries @ self.matrix.T, self._starts, axis=1)  # (q, characters)
            return [self._top(row, k) for row in best]
        approx = self._scan.scores(queries)
        return [
            self._rank(self.rows_to_rescore(a, self._scan.error_bounds(q), k), q, k) for a, q in zip(approx, queries)
        ]

    def rows_to_rescore(self, approx: np.ndarray, bounds: np.ndarray, k: int) -> np.ndarray:
        """Rows whose exact score could reach the top-k characters, given scores within ±`bounds`.

        With L the k-th largest of the characters' best lower bounds (approx − bound), k characters
        score at least L exactly, so every character of the exact top-k does too, and its best face
        has approx + bound ≥ L. Faces below that cannot matter.
        """
        per_character = np.maximum.reduceat(approx - bounds, self._starts)
        kk = min(k, len(per_character))
        floor = np.partition(per_character, -kk)[-kk]
        return np.flatnonzero(approx + bounds >= floor)

    def _ann_rows(self, query: np.ndarray) -> np.ndarray:
        assert self._ann is not None and self._scan is not None
        count = min(len(self.matrix), self.tuning.rerank)
        found = self._ann.search(quantize_int8(query, self._scan.scale), count)
        return np.asarray(found.keys, dtype=np.int64)

    def _rank(self, rows: np.ndarray, query: np.ndarray, k: int) -> list[Candidate]:
        best = np.full(len(self.names), -np.inf, np.float32)
        np.maximum.at(best, self.codes[rows], self.matrix[rows] @ query)
        return self._top_codes(best, k)

    def _top(self, per_segment: np.ndarray, k: int) -> list[Candidate]:
        top = np.argsort(-per_segment)[:k]
        return [Candidate(self.names[self._segment_codes[i]], float(per_segment[i])) for i in top]

    def _top_codes(self, per_code: np.ndarray, k: int) -> list[Candidate]:
        top = np.argsort(-per_code)[:k]
        return [Candidate(self.names[i], float(per_code[i])) for i in top if np.isfinite(per_code[i])]
