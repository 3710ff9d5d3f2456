"""Embedded gallery: one SQLite file (WAL) with vectors and metadata, exact cosine search in memory.

All database work runs on one dedicated thread, so the event loop never blocks and the
connection is never shared between threads. The search matrix of each (scope, model id) is
loaded on first use and dropped when that scope changes.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np

from ..sqlite_file import SQLiteFile
from .base import Candidate, CharacterInfo, FaceRecord, Gallery, StoredFace
from .vector_index import SearchTuning, VectorIndex

SCHEMA = """
CREATE TABLE IF NOT EXISTS faces (
    id TEXT PRIMARY KEY,
    scope TEXT NOT NULL,
    name TEXT NOT NULL,
    model_id TEXT NOT NULL,
    dim INTEGER NOT NULL,
    vector BLOB NOT NULL,
    source_hash TEXT NOT NULL,
    box TEXT NOT NULL,
    crop BLOB,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS faces_scope_model ON faces (scope, model_id);
CREATE INDEX IF NOT EXISTS faces_scope_name ON faces (scope, name);
CREATE TABLE IF NOT EXISTS characters (
    scope TEXT NOT NULL,
    name TEXT NOT NULL,
    series TEXT,
    link TEXT,
    PRIMARY KEY (scope, name)
);
"""


class SQLiteGallery(Gallery):
    """The default gallery; see the module docstring."""

    def __init__(self, path: str | Path, tuning: SearchTuning | None = None) -> None:
        self.path = Path(path)
        self.tuning = tuning or SearchTuning()
        self._db = SQLiteFile(path, SCHEMA, "gallery file", "gallery", "kaobot-sqlite")
        self._run = self._db.run
        self._indexes: dict[tuple[str, str], VectorIndex] = {}
        self._lock = threading.Lock()

    # -- plumbing -----------------------------------------------------------------------------
    def _invalidate(self, scope: str | None) -> None:
        with self._lock:
            if scope is None:
                self._indexes.clear()
            else:
                for key in [k for k in self._indexes if k[0] == scope]:
                    del self._indexes[key]

    async def close(self) -> None:
        await self._db.close()

    # -- writes -------------------------------------------------------------------------------
    async def _add(self, records: list[FaceRecord]) -> None:
        rows = [
            (
                r.id,
                r.scope,
                r.name,
                r.model_id,
                int(r.vector.size),
                r.vector.astype(np.float32).tobytes(),
                r.source_hash,
                json.dumps(list(r.box)),
                r.crop,
                r.created,
            )
            for r in records
        ]

        def write(conn: sqlite3.Connection) -> None:
            with conn:
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany("INSERT OR IGNORE INTO faces VALUES (?,?,?,?,?,?,?,?,?,?)", rows)

        await self._run(write)
        for scope in {r.scope for r in records}:
            self._invalidate(scope)

    async def _forget(self, scope: str, name: str) -> int:
        def delete(conn: sqlite3.Connection) -> int:
            with conn:
                conn.execute("BEGIN IMMEDIATE")
                n = conn.execute("DELETE FROM faces WHERE scope=? AND name=?", (scope, name)).rowcount
                conn.execute("DELETE FROM characters WHERE scope=? AND name=?", (scope, name))
            return n

        removed = await self._run(delete)
        self._invalidate(scope)
        return removed

    async def _rename(self, scope: str, old: str, new: str) -> int:
        def rename(conn: sqlite3.Connection) -> int:
            with conn:
                conn.execute("BEGIN IMMEDIATE")
                rows = conn.execute(
                    "SELECT id, model_id, source_hash, box FROM faces WHERE scope=? AND name=?", (scope, old)
                ).fetchall()
                from .base import face_id

                for fid, model_id, source_hash, box in rows:
                    new_id = face_id(scope, new, model_id, source_hash, tuple(json.loads(box)))
                    exists = conn.execute("SELECT 1 FROM faces WHERE id=?", (new_id,)).fetchone()
                    if exists:  # the same face was already enrolled under the new name
                        conn.execute("DELETE FROM faces WHERE id=?", (fid,))
                    else:
                        conn.execute("UPDATE faces SET id=?, name=? WHERE id=?", (new_id, new, fid))
                info = conn.execute(
                    "SELECT series, link FROM characters WHERE scope=? AND name=?", (scope, old)
                ).fetchone()
                if info:
                    conn.execute("DELETE FROM characters WHERE scope=? AND name=?", (scope, old))
                    conn.execute("INSERT OR IGNORE INTO characters VALUES (?,?,?,?)", (scope, new, *info))
            return len(rows)

        moved = await self._run(rename)
        self._invalidate(scope)
        return moved

    async def _set_character_info(self, scope: str, name: str, series: str | None, link: str | None) -> None:
        def upsert(conn: sqlite3.Connection) -> None:
            with conn:
                conn.execute(
                    "INSERT INTO characters VALUES (?,?,?,?) ON CONFLICT(scope, name) DO UPDATE SET "
                    "series=excluded.series, link=excluded.link",
                    (scope, name, series, link),
                )

        await self._run(upsert)

    async def _clear(self, scope: str) -> int:
        def delete(conn: sqlite3.Connection) -> int:
            with conn:
                conn.execute("BEGIN IMMEDIATE")
                n = conn.execute("DELETE FROM faces WHERE scope=?", (scope,)).rowcount
                conn.execute("DELETE FROM characters WHERE scope=?", (scope,))
            return n

        removed = await self._run(delete)
        self._invalidate(scope)
        return removed

    # -- reads --------------------------------------------------------------------------------
    def _load_index(self, conn: sqlite3.Connection, scope: str, model_id: str) -> VectorIndex:
        with self._lock:
            cached = self._indexes.get((scope, model_id))
        if cached is not None:
            return cached
        rows = conn.execute(
            "SELECT name, dim, vector FROM faces WHERE scope=? AND model_id=? ORDER BY name", (scope, model_id)
        ).fetchall()
        names: list[str] = []
        codes = np.empty(len(rows), np.int64)
        dim = rows[0][1] if rows else 0
        matrix = np.empty((len(rows), dim), np.float32)
        for i, (name, _, blob) in enumerate(rows):
            if not names or names[-1] != name:
                names.append(name)
            codes[i] = len(names) - 1
            matrix[i] = np.frombuffer(blob, np.float32)
        index = VectorIndex(matrix, codes, names, self.tuning)
        with self._lock:
            self._indexes[(scope, model_id)] = index
        return index

    async def _search(self, queries: np.ndarray, scope: str, model_id: str, k: int) -> list[list[Candidate]]:
        index = await self._run(lambda conn: self._load_index(conn, scope, model_id))
        if not index.names:
            return [[] for _ in range(len(queries))]
        if queries.shape[1] != index.matrix.shape[1]:
            raise ValueError(f"query dimension {queries.shape[1]} differs from the gallery's {index.matrix.shape[1]}")
        return index.search(queries, k)

    async def _has_source(self, scope: str, name: str, model_id: str, source_hash: str) -> bool:
        return await self._run(
            lambda conn: (
                conn.execute(
                    "SELECT 1 FROM faces WHERE scope=? AND name=? AND model_id=? AND source_hash=? LIMIT 1",
                    (scope, name, model_id, source_hash),
                ).fetchone()
                is not None
            )
        )

    async def _count_name(self, scope: str, name: str) -> int:
        return await self._run(
            lambda conn: conn.execute("SELECT COUNT(*) FROM faces WHERE scope=? AND name=?", (scope, name)).fetchone()[
                0
            ]
        )

    async def _characters(self, scope: str) -> list[CharacterInfo]:
        def query(conn: sqlite3.Connection) -> list[CharacterInfo]:
            rows = conn.execute(
                "SELECT f.name, COUNT(*), c.series, c.link FROM faces f LEFT JOIN characters c "
                "ON c.scope=f.scope AND c.name=f.name WHERE f.scope=? GROUP BY f.name",
                (scope,),
            ).fetchall()
            return [CharacterInfo(name, n, series, link) for name, n, series, link in rows]

        return await self._run(query)

    async def _describe(self, scope: str, names: list[str]) -> dict[str, tuple[str | None, str | None]]:
        def query(conn: sqlite3.Connection) -> dict[str, tuple[str | None, str | None]]:
            marks = ",".join("?" * len(names))
            rows = conn.execute(
                f"SELECT name, series, link FROM characters WHERE scope=? AND name IN ({marks})", (scope, *names)
            ).fetchall()
            return {name: (series, link) for name, series, link in rows}

        return await self._run(query) if names else {}

    async def _count(self, scope: str | None) -> int:
        if scope is None:
            return await self._run(lambda conn: conn.execute("SELECT COUNT(*) FROM faces").fetchone()[0])
        return await self._run(
            lambda conn: conn.execute("SELECT COUNT(*) FROM faces WHERE scope=?", (scope,)).fetchone()[0]
        )

    async def _model_ids(self, scope: str | None) -> dict[str, int]:
        sql = (
            "SELECT model_id, COUNT(*) FROM faces"
            + (" WHERE scope=?" if scope is not None else "")
            + " GROUP BY model_id"
        )
        args = (scope,) if scope is not None else ()
        return await self._run(lambda conn: dict(conn.execute(sql, args).fetchall()))

    async def _records(self, scope: str | None, batch_size: int) -> AsyncIterator[list[FaceRecord]]:
        last = ""
        while True:
            sql = "SELECT id, scope, name, model_id, vector, source_hash, box, crop, created FROM faces WHERE id > ?"
            args: tuple = (last,)
            if scope is not None:
                sql += " AND scope=?"
                args += (scope,)
            sql += " ORDER BY id LIMIT ?"
            args += (batch_size,)
            rows = await self._run(lambda conn, sql=sql, args=args: conn.execute(sql, args).fetchall())
            if not rows:
                return
            last = rows[-1][0]
            yield [
                FaceRecord(
                    scope=s,
                    name=n,
                    model_id=m,
                    vector=np.frombuffer(v, np.float32).copy(),
                    source_hash=h,
                    box=tuple(json.loads(b)),
                    crop=c,
                    created=t,
                )
                for _, s, n, m, v, h, b, c, t in rows
            ]

    async def _delete_faces(self, ids: list[str]) -> int:
        def delete(conn: sqlite3.Connection) -> tuple[int, set[str]]:
            removed, scopes = 0, set()
            with conn:
                conn.execute("BEGIN IMMEDIATE")
                for start in range(0, len(ids), 500):
                    chunk = ids[start : start + 500]
                    marks = ",".join("?" * len(chunk))
                    scopes |= {
                        s for (s,) in conn.execute(f"SELECT DISTINCT scope FROM faces WHERE id IN ({marks})", chunk)
                    }
                    removed += conn.execute(f"DELETE FROM faces WHERE id IN ({marks})", chunk).rowcount
            return removed, scopes

        removed, scopes = await self._run(delete)
        for scope in scopes:
            self._invalidate(scope)
        return removed

    async def _faces(self, scope: str, name: str | None, face_id: str | None) -> list[StoredFace]:
        sql = "SELECT id, scope, name, model_id, box, created, crop FROM faces WHERE scope=?"
        args: tuple = (scope,)
        if name is not None:
            sql += " AND name=?"
            args += (name,)
        if face_id is not None:
            sql += " AND id=?"
            args += (face_id,)
        rows = await self._run(lambda conn: conn.execute(sql, args).fetchall())
        return [StoredFace(i, s, n, m, tuple(json.loads(b)), t, c) for i, s, n, m, b, t, c in rows]
