"""Gallery backends for the contract suite: add a backend by adding a factory here."""

from __future__ import annotations

from pathlib import Path

from recognition.gallery.sqlite import SQLiteGallery


async def make_sqlite(tmp_path: Path, name: str = "gallery") -> SQLiteGallery:
    return SQLiteGallery(tmp_path / f"{name}.sqlite3")


BACKENDS = {"sqlite": make_sqlite}
