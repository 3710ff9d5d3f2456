"""Approximate cosine scores of every face from an int8 copy, with a proven error bound.

The faces' unit vectors are kept as 7-bit integers in int8 (one scale for the whole matrix; see
`FACE_RANGE`) inside ONNX Runtime
sessions that compute `MatMulInteger(query_uint8, faces_int8ᵀ)` with its VNNI/AVX kernels: on the
2-core build machine that is about 4× faster than numpy's float32 product over the same faces
(docs/benchmarks.md). The int8 matrix is a session initializer, so ONNX Runtime pre-packs it once.

Every approximate score differs from the exact float32 dot product by at most `error_bound(q)`:
with x̂ = round(x·s) and q̂ = round(q·t),

    |q·x − q̂·x̂/(s·t)| ≤ ‖q‖·‖x − x̂/s‖ + ‖q − q̂/t‖·‖x̂/s‖      (Cauchy–Schwarz)

with ‖x − x̂/s‖ and ‖x̂/s‖ kept per face. `VectorIndex` re-scores in float32 every face whose
score could still reach the answer, so its results are exact.
"""

from __future__ import annotations

import numpy as np

ROWS_PER_SESSION_BYTES = 1 << 30  # an ONNX model file (protobuf) holds at most 2 GiB
# The faces use 7 bits (±63): ONNX Runtime's AVX2 u8×s8 kernel adds pairs of products in int16
# (vpmaddubsw), which saturates above 32767; 2·255·63 = 32130 never does, 2·255·127 can
# (onnxruntime 1.32 on an AVX2 machine without VNNI broke the error bound for 1 face in 4000).
FACE_RANGE = 63


def quantize_int8(vectors: np.ndarray, scale: float | np.ndarray, limit: int = 127) -> np.ndarray:
    """Components multiplied by `scale`, rounded and clipped to ±`limit` (int8)."""
    return np.clip(np.rint(vectors * scale), -limit, limit).astype(np.int8)


def _session(weights: np.ndarray, threads: int):
    """An ONNX Runtime session computing uint8 queries (zero point 128) × `weights` (dim, n) int8."""
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    dim = weights.shape[0]
    graph = helper.make_graph(
        [helper.make_node("MatMulInteger", ["query", "faces", "zero"], ["scores"])],
        "kaobot_int8_scan",
        [helper.make_tensor_value_info("query", TensorProto.UINT8, [None, dim])],
        [helper.make_tensor_value_info("scores", TensorProto.INT32, [None, weights.shape[1]])],
        [numpy_helper.from_array(weights, "faces"), numpy_helper.from_array(np.array(128, np.uint8), "zero")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # no busy-waiting between queries
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


class Int8Scan:
    """Approximate scores of all rows of `matrix` (unit vectors) for a batch of queries."""

    def __init__(self, matrix: np.ndarray, threads: int = 0, keep_vectors: bool = False) -> None:
        n, dim = matrix.shape
        sample = np.abs(matrix[:: max(1, n // 4096)])
        self.scale = FACE_RANGE / max(float(np.quantile(sample, 0.9999)), 1e-6)
        vectors = quantize_int8(matrix, self.scale, FACE_RANGE)
        restored = vectors.astype(np.float32) / self.scale
        self._row_error = np.linalg.norm(matrix - restored, axis=1).astype(np.float32)
        self._row_norm = np.linalg.norm(restored, axis=1).astype(np.float32)
        step = max(1, ROWS_PER_SESSION_BYTES // max(dim, 1))
        self._sessions = [
            _session(np.ascontiguousarray(vectors[start : start + step].T), threads) for start in range(0, n, step)
        ]
        self.nbytes = vectors.nbytes  # ONNX Runtime's own (pre-packed) copy, about this size
        self.vectors: np.ndarray | None = vectors if keep_vectors else None  # for building an HNSW graph

    def scores(self, queries: np.ndarray) -> np.ndarray:
        """Approximate scores (q, n) float32; `error_bounds` gives how far each may be off."""
        queries = np.asarray(queries, np.float32)
        peak = np.maximum(np.abs(queries).max(axis=1, keepdims=True), 1e-12)
        q_scale = 127.0 / peak
        q_int = quantize_int8(queries, q_scale)
        feed = {"query": (q_int.astype(np.int16) + 128).astype(np.uint8)}
        raw = [session.run(None, feed)[0] for session in self._sessions]
        approx = (np.concatenate(raw, axis=1) if len(raw) > 1 else raw[0]).astype(np.float32)
        approx /= q_scale.astype(np.float32) * np.float32(self.scale)
        return approx

    def error_bounds(self, query: np.ndarray) -> np.ndarray:
        """Per face, the most its approximate score for `query` can differ from the float32 one."""
        query = np.asarray(query, np.float32)
        q_scale = 127.0 / max(float(np.abs(query).max()), 1e-12)
        q_error = float(np.linalg.norm(query - quantize_int8(query, q_scale).astype(np.float32) / q_scale))
        bound = float(np.linalg.norm(query)) * self._row_error + q_error * self._row_norm
        return bound + np.float32(1e-5)  # + float32 rounding of the scores
