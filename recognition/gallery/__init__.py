"""Galleries of enrolled faces: one async interface, one module per backend."""

from __future__ import annotations

from .base import GLOBAL_SCOPE, Candidate, CharacterInfo, FaceRecord, Gallery, RewriteSummary, StoredFace, clean_name

__all__ = [
    "BACKENDS",
    "GLOBAL_SCOPE",
    "Candidate",
    "CharacterInfo",
    "FaceRecord",
    "Gallery",
    "RewriteSummary",
    "StoredFace",
    "clean_name",
    "open_gallery",
]


def open_gallery(settings, backend: str | None = None) -> Gallery:
    """Build the gallery backend named by `backend`, else by `settings.gallery.backend`.

    Optional backends are imported here, so a missing extra only matters when it is chosen."""
    from ..errors import ConfigError

    backend = backend or settings.gallery.backend
    if backend == "sqlite":
        from .sqlite import SQLiteGallery
        from .vector_index import SearchTuning

        g = settings.gallery
        return SQLiteGallery(settings.gallery_path, SearchTuning(g.quantize_above, g.ann_above, g.rerank))
    if backend == "elasticsearch":
        from .elastic import ElasticsearchGallery

        return ElasticsearchGallery(settings.gallery.elasticsearch)
    raise ConfigError(f"unknown gallery backend {backend!r}; valid: {', '.join(BACKENDS)}")


BACKENDS = ("sqlite", "elasticsearch")
