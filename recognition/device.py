"""Choice of the torch device for the torch backends (`auto`, `cpu`, `cuda`)."""

from __future__ import annotations

from .errors import ConfigError


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
