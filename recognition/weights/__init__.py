"""The model files kaobot ships (model cards: docs/models.md).

Any checkpoint setting may name one of them as ``shipped:FILE`` instead of a path, e.g.
``detector.checkpoint: shipped:detector-fcos-icf512.pt``; it resolves wherever kaobot is installed.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import ModelFileError

SHIPPED_PREFIX = "shipped:"
WEIGHTS_DIR = Path(__file__).resolve().parent

DEFAULT_DETECTOR = SHIPPED_PREFIX + "detector-fcos-icf512.pt"
DEFAULT_EMBEDDER = SHIPPED_PREFIX + "embedder-lite0-fused.pt"  # `embedder.backend: fusion` with no checkpoint
HEAD_EMBEDDER = SHIPPED_PREFIX + "embedder-head128-fused.pt"  # `projected` with no checkpoint; the default's descriptor side


def shipped_models() -> list[str]:
    """File names of the shipped models."""
    return sorted(p.name for p in WEIGHTS_DIR.glob("*.pt"))


def resolve_model_path(spec: str | Path) -> Path:
    """The file a checkpoint setting names: ``shipped:FILE`` or a plain path."""
    text = str(spec)
    if not text.startswith(SHIPPED_PREFIX):
        return Path(spec)
    name = text[len(SHIPPED_PREFIX) :]
    if name not in shipped_models():
        raise ModelFileError(f"no shipped model {name!r}; shipped: {', '.join(shipped_models())}")
    return WEIGHTS_DIR / name
