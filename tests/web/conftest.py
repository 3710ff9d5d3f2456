"""Fixtures of the web tests: a real Recognizer (the shipped default models, an inference worker,
a SQLite gallery in tmp_path) and the application over it."""

from __future__ import annotations

from pathlib import Path

import pytest

from recognition import ImageLimits, InferenceWorker, Recognizer, Settings
from recognition.gallery.sqlite import SQLiteGallery
from web import create_app

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TOKEN = "test-token-5b1d2c0e"
SCOPE = "web-tests"


def example(name: str) -> bytes:
    return (EXAMPLES / name).read_bytes()


@pytest.fixture(scope="module")
def models():
    """The default detector and embedder, loaded once per module (they are read-only)."""
    from recognition.detect import build_detector
    from recognition.device import single_threaded_blas
    from recognition.embed import build_embedder

    single_threaded_blas()
    s = Settings()
    return build_detector(s.detector), build_embedder(s.embedder)


def make_recognizer(models, path: Path, max_pending: int | None = None) -> Recognizer:
    s = Settings()
    if max_pending is not None:
        s.inference.max_pending = max_pending
    detector, embedder = models
    limits = ImageLimits(s.limits.max_bytes, s.limits.max_pixels)
    worker = InferenceWorker(detector, embedder, limits, s.recognition.max_faces, s.inference)
    return Recognizer(detector, embedder, SQLiteGallery(path), s.recognition, limits, worker=worker)


@pytest.fixture
async def recognizer(models, tmp_path) -> Recognizer:
    rec = make_recognizer(models, tmp_path / "gallery.sqlite3")
    yield rec
    await rec.close()


@pytest.fixture
async def client(aiohttp_client, recognizer):
    """The API with the token configured."""
    return await aiohttp_client(create_app(recognizer, scope=SCOPE, token=TOKEN))


@pytest.fixture
def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}
