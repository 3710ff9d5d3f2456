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
