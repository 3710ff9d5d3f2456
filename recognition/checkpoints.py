"""The checkpoint formats that kaobot's torch backends load.

A checkpoint is one file written with `torch.save` holding only plain types and tensors, so it
loads with `weights_only=True` (no code runs while loading)::

    {
      "format": "kaobot-embedder" | "kaobot-detector",
      "version": 1,
      "model_id": str,            # stable id stored beside every vector / reported by detect
      "arch": str,                # a name in the architecture registry
      "arch_kwargs": dict,        # keyword arguments for the architecture builder
      "meta": dict,               # kind-specific metadata (input size, normalisation, ...)
      "state_dict": dict[str, Tensor],
    }
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .errors import ModelFileError

FORMAT_VERSION = 1


def save_checkpoint(
    path: str | Path,
    *,
    kind: str,
    model_id: str,
    arch: str,
    arch_kwargs: dict[str, Any],
    meta: dict[str, Any],
    state_dict: dict[str, Any],
    half: bool = False,
) -> Path:
    """Write an inference checkpoint (optionally with fp16 weights) atomically."""
    import os

    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if half:
        state_dict = {
            k: (v.half() if torch.is_tensor(v) and v.is_floating_point() else v) for k, v in state_dict.items()
        }
    payload = {
        "format": f"kaobot-{kind}",
        "version": FORMAT_VERSION,
        "model_id": model_id,
        "arch": arch,
        "arch_kwargs": dict(arch_kwargs),
        "meta": dict(meta),
        "state_dict": {k: v.detach().cpu() if torch.is_tensor(v) else v for k, v in state_dict.items()},
    }
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)
    return path


def float_weights(payload: dict[str, Any]) -> dict[str, Any]:
    """A loaded checkpoint's `state_dict` with floating tensors in float32 (shipped files may be fp16),
    ready for `load_state_dict`."""
    return {k: v.float() if v.is_floating_point() else v for k, v in payload["state_dict"].items()}


def load_checkpoint(path: str | Path, *, kind: str) -> dict[str, Any]:
    """Load and validate a checkpoint (a path or ``shipped:FILE``); every problem raises `ModelFileError`
    naming the file."""
    import torch

    from .weights import resolve_model_path

    path = resolve_model_path(path)
    if not path.is_file():
        raise ModelFileError(f"model file not found: {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a corrupt file
        raise ModelFileError(f"model file {path} is corrupt or not a torch checkpoint: {exc}") from exc
    expected = f"kaobot-{kind}"
    if not isinstance(payload, dict) or payload.get("format") != expected:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise ModelFileError(f"model file {path} is not a {expected} checkpoint (found {found!r})")
    if payload.get("version") != FORMAT_VERSION:
        raise ModelFileError(
            f"model file {path} has format version {payload.get('version')}, expected {FORMAT_VERSION}"
        )
    for key in ("model_id", "arch", "arch_kwargs", "meta", "state_dict"):
        if key not in payload:
            raise ModelFileError(f"model file {path} lacks {key!r}")
    return payload
