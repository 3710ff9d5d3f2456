"""Choice of the torch device for the torch backends (`auto`, `cpu`, `cuda`), and of the threads
the CPU work runs on (torch intra-/inter-op, ONNX Runtime, numpy's BLAS)."""

from __future__ import annotations

import logging
import os
import sys

from .errors import ConfigError

log = logging.getLogger(__name__)

_threads = 1  # intra-op threads of torch and ONNX Runtime (`configure_threads`)


def resolve_device(name: str) -> str:
    """Return a torch device string: CUDA when `auto` finds one, else CPU."""
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cpu":
        return "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"device {name!r} was asked for, but no CUDA device is available")
        return name
    raise ConfigError(f"unknown device {name!r}: use auto, cpu or cuda")


def single_threaded_blas() -> None:
    """Run numpy's BLAS on the calling thread from now on (the whole process).

    OpenBLAS's worker threads keep spinning after each call; on a 2-core machine they halved the
    speed of the torch detector that runs next (1024² picture: detect 112 ms after an embedding vs
    59 ms with one BLAS thread; the embedding itself 7.9 vs 7.0 ms). kaobot's numpy work per
    picture is small, so one thread loses nothing there.
    """
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")


def configure_threads(threads: int = 1) -> int:
    """Choose the threads of inference (setting `inference.compute_threads`); call before building
    models, and `apply_torch_threads()` after (torch is imported only by the backends that need it).

    Default 1: beside other busy processes on a small shared server, several torch threads per
    picture fight for the cores and each waits for the slowest (2 cores at load average 9-13: the
    default /whois took 4.1 s p50 with torch's one thread per core, 0.57 s with one thread;
    docs/benchmarks.md "Beside a busy neighbour"); parallelism comes from the inference worker's
    consumers (`inference.threads`, `inference.processes`) instead. 0: one per core.
    numpy's BLAS always runs on the calling thread (`single_threaded_blas`)."""
    global _threads
    _threads = threads if threads > 0 else (os.cpu_count() or 1)
    single_threaded_blas()
    if "torch" in sys.modules:
        apply_torch_threads()
    return _threads


def inference_threads() -> int:
    """The intra-op threads chosen by `configure_threads` (ONNX Runtime sessions use it)."""
    return _threads


def apply_torch_threads() -> None:
    """Give torch the chosen intra-op threads and one inter-op thread."""
    import torch

    torch.set_num_threads(_threads)
    if torch.get_num_interop_threads() != 1:
        try:
            torch.set_num_interop_threads(1)  # possible only before torch's first inter-op work
        except RuntimeError:
            log.debug("torch's inter-op threads were already started; left at %d", torch.get_num_interop_threads())
