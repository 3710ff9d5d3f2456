"""Galleries of enrolled faces: one async interface, one module per backend."""

from __future__ import annotations

from .base import GLOBAL_SCOPE, Candidate, CharacterInfo, FaceRecord, Gallery, clean_name

__all__ = ["GLOBAL_SCOPE", "Candidate", "CharacterInfo", "FaceRecord", "Gallery", "clean_name", "open_gallery"]


def open_gallery(settings) -> Gallery:
    """Build the gallery backend named by `settings.gallery.backend`."""
    from ..errors import ConfigError

    backend = settings.gallery.backend
    if backend == "sqlite":
        from .sqlite import SQLiteGallery
        from .vector_index import SearchTuning

        g = settings.gallery
        return SQLiteGallery(settings.gallery_path, SearchTuning(g.quantize_above, g.ann_above, g.rerank))
    raise ConfigError(f"unknown gallery backend {backend!r}; valid: sqlite")
