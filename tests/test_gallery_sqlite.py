"""SQLite-specific behaviour: persistence across processes, corrupt files."""

import numpy as np
import pytest

from recognition.errors import GalleryUnavailable
from recognition.gallery import FaceRecord
from recognition.gallery.sqlite import SQLiteGallery


async def test_persists_across_reopen(tmp_path):
    path = tmp_path / "g.sqlite3"
    async with SQLiteGallery(path) as g:
        await g.add([FaceRecord("g1", "A", "m", np.ones(4, np.float32), "h", (0, 0, 1, 1), crop=b"jpeg")])
    async with SQLiteGallery(path) as g:
        assert await g.count() == 1
        (hits,) = await g.search(np.ones(4, np.float32), "g1", "m", 1)
        assert hits[0].name == "A"
        batches = [b async for b in g.records()]
        assert batches[0][0].crop == b"jpeg"


async def test_wal_mode(tmp_path):
    import sqlite3

    path = tmp_path / "g.sqlite3"
    async with SQLiteGallery(path) as g:
        await g.count()
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_corrupt_file_is_a_clear_error(tmp_path):
    path = tmp_path / "g.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    async with SQLiteGallery(path) as g:
        with pytest.raises(GalleryUnavailable, match="g.sqlite3"):
            await g.count()


async def test_search_cache_follows_writes(tmp_path):
    async with SQLiteGallery(tmp_path / "g.sqlite3") as g:
        await g.add([FaceRecord("s", "A", "m", np.array([1, 0], np.float32), "h1", (0, 0, 1, 1))])
        assert (await g.search(np.array([0, 1], np.float32), "s", "m", 1))[0][0].name == "A"
        await g.add([FaceRecord("s", "B", "m", np.array([0, 1], np.float32), "h2", (0, 0, 1, 1))])
        assert (await g.search(np.array([0, 1], np.float32), "s", "m", 1))[0][0].name == "B"
        await g.forget("s", "B")
        assert (await g.search(np.array([0, 1], np.float32), "s", "m", 1))[0][0].name == "A"


async def test_closed_gallery_refuses_work(tmp_path):
    g = SQLiteGallery(tmp_path / "g.sqlite3")
    await g.close()
    with pytest.raises(GalleryUnavailable):
        await g.count()
