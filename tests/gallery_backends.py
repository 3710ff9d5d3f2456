"""Gallery backends for the contract suite: add a backend by adding a factory and a param here.

A factory takes the test's `request` (to reach session fixtures such as the test server), its
`tmp_path` and a name, and returns an empty gallery of its own.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from recognition.config import ElasticsearchSettings
from recognition.gallery import Gallery
from recognition.gallery.sqlite import SQLiteGallery


async def make_sqlite(tmp_path: Path, name: str = "gallery") -> SQLiteGallery:
    return SQLiteGallery(tmp_path / f"{name}.sqlite3")


def es_settings(url: str, **overrides) -> ElasticsearchSettings:
    """Settings for a test gallery with an alias of its own, so tests never see each other's faces."""
    settings = ElasticsearchSettings(
        hosts=[url], index=f"t{uuid.uuid4().hex[:12]}", replicas=0, retries=1, retry_backoff=0.05, request_timeout=5
    )
    for key, value in overrides.items():
        setattr(settings, key, value)
    return settings


async def make_elasticsearch(request: pytest.FixtureRequest, tmp_path: Path, name: str = "gallery", **overrides):
    from recognition.gallery.elastic import ElasticsearchGallery

    server = request.getfixturevalue("es_server")
    return ElasticsearchGallery(es_settings(server.url, **overrides))


async def _sqlite(request: pytest.FixtureRequest, tmp_path: Path, name: str = "gallery") -> Gallery:
    return await make_sqlite(tmp_path, name)


BACKENDS = {"sqlite": _sqlite, "elasticsearch": make_elasticsearch}
BACKEND_PARAMS = [
    pytest.param("sqlite"),
    pytest.param("elasticsearch", marks=pytest.mark.elasticsearch),
]
