"""Face embedding: one interface, several backends, built from the configuration."""

from __future__ import annotations

from .base import Embedder

__all__ = ["Embedder", "build_embedder"]


def build_embedder(settings) -> Embedder:
    """Build the embedder named by `settings.backend` (`baseline`, `torch`, `onnx`, `fusion` or `projected`);
    `fusion` without a checkpoint is the shipped default embedder, `projected` without one the shipped
    descriptor head (the default's descriptor side, the default until 2026-12-03). Torch checkpoints
    with a twin made from them run without torch (`recognition.onnx_models`)."""
    from ..errors import ConfigError

    if settings.backend == "baseline":
        from .baseline import BaselineEmbedder

        return BaselineEmbedder()
    if settings.backend == "torch":
        from .onnx_backend import network_embedder

        if not settings.checkpoint:
            raise ConfigError("embedder.backend is 'torch' but embedder.checkpoint is not set")
        return network_embedder(settings.checkpoint, device=settings.device)
    if settings.backend == "onnx":
        from .onnx_backend import OnnxEmbedder

        if not settings.checkpoint:
            raise ConfigError("embedder.backend is 'onnx' but embedder.checkpoint (the .onnx file) is not set")
        return OnnxEmbedder(settings.checkpoint, device=settings.device)
    if settings.backend == "fusion":
        from ..weights import DEFAULT_EMBEDDER
        from .fusion import FusionEmbedder

        return FusionEmbedder(settings.checkpoint or DEFAULT_EMBEDDER, weight=settings.fusion_weight,
                              device=settings.device)
    if settings.backend == "projected":
        from ..weights import HEAD_EMBEDDER
        from .projected import ProjectedEmbedder

        return ProjectedEmbedder(settings.checkpoint or HEAD_EMBEDDER)
    raise ConfigError(f"unknown embedder backend {settings.backend!r}; valid: baseline, torch, onnx, fusion, projected")
