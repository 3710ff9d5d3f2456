"""The review queue in one SQLite file (WAL), next to the SQLite gallery.

All database work runs on one dedicated thread, as in `recognition.gallery.sqlite`.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np

from ..sqlite_file import SQLiteFile
from .base import PENDING, ReviewQueue, Suggestion

SCHEMA = """
CREATE TABLE IF NOT EXISTS suggestions (
    id TEXT NOT NULL,
    scope TEXT NOT NULL,
    name TEXT NOT NULL,
    suggester TEXT NOT NULL,
    model_id TEXT NOT NULL,
    vector BLOB NOT NULL,
    crop BLOB NOT NULL,
    source_hash TEXT NOT NULL,
    box TEXT NOT NULL,
    message_link TEXT,
    answer TEXT,
    created REAL NOT NULL,
    status TEXT NOT NULL,
    decided_by TEXT,
    decided_at REAL,
    enrolled_as TEXT,
    face_id TEXT,
    PRIMARY KEY (scope, id)
);
CREATE INDEX IF NOT EXISTS suggestions_scope_status ON suggestions (scope, status, created);
CREATE INDEX IF NOT EXISTS suggestions_scope_suggester ON suggestions (scope, suggester, created);
CREATE INDEX IF NOT EXISTS suggestions_scope_face ON suggestions (scope, source_hash);
"""

COLUMNS = (
    "id, scope, name, suggester, model_id, vector, crop, source_hash, box, message_link, answer, created, "
    "status, decided_by, decided_at, enrolled_as, face_id"
)
DECIDED = ("status", "decided_by", "decided_at", "enrolled_as", "face_id")


def _row(s: Suggestion) -> tuple:
    return (
        s.id, s.scope, s.name, s.suggester, s.model_id, s.vector.astype(np.float32).tobytes(), s.crop,
        s.source_hash, json.dumps(list(s.box)), s.message_link, s.answer, s.created,
        s.status, s.decided_by, s.decided_at, s.enrolled_as, s.face_id,
    )  # fmt: skip


def _suggestion(row: tuple) -> Suggestion:
    (_, scope, name, suggester, model_id, vector, crop, source_hash, box, link, answer, created,
     status, decided_by, decided_at, enrolled_as, face_id) = row  # fmt: skip
    return Suggestion(
        scope=scope, name=name, suggester=suggester, model_id=model_id,
        vector=np.frombuffer(vector, np.float32).copy(), crop=crop, source_hash=source_hash,
        box=tuple(json.loads(box)), message_link=link, answer=answer, created=created, status=status,
        decided_by=decided_by, decided_at=decided_at, enrolled_as=enrolled_as, face_id=face_id,
    )  # fmt: skip


class SQLiteReviewQueue(ReviewQueue):
    """The default review queue; see the module docstring."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._db = SQLiteFile(path, SCHEMA, "review queue", "review queue", "kaobot-review")
        self._run = self._db.run

    async def close(self) -> None:
        await self._db.close()

    async def _put(self, s: Suggestion) -> None:
        row = _row(s)

        def write(conn: sqlite3.Connection) -> None:
            with conn:
                conn.execute(f"INSERT OR IGNORE INTO suggestions ({COLUMNS}) VALUES ({','.join('?' * len(row))})", row)

        await self._run(write)

    async def _get(self, scope: str, sid: str) -> Suggestion | None:
        def read(conn: sqlite3.Connection) -> Suggestion | None:
            row = conn.execute(f"SELECT {COLUMNS} FROM suggestions WHERE scope=? AND id=?", (scope, sid)).fetchone()
            return None if row is None else _suggestion(row)

        return await self._run(read)

    async def _select(self, where: str, args: tuple) -> list[Suggestion]:
        sql = f"SELECT {COLUMNS} FROM suggestions WHERE {where}"
        return await self._run(lambda conn: [_suggestion(r) for r in conn.execute(sql, args).fetchall()])

    async def _list(self, scope: str, status: str, limit: int | None) -> list[Suggestion]:
        return await self._select(
            "scope=? AND status=? ORDER BY created, id LIMIT ?", (scope, status, -1 if limit is None else limit)
        )

    async def _count(self, scope: str, status: str | None, suggester: str | None, since: float | None) -> int:
        where, args = ["scope=?"], [scope]
        for column, value, op in (("status", status, "="), ("suggester", suggester, "="), ("created", since, ">=")):
            if value is not None:
                where.append(f"{column}{op}?")
                args.append(value)
        sql = f"SELECT COUNT(*) FROM suggestions WHERE {' AND '.join(where)}"
        return await self._run(lambda conn: conn.execute(sql, args).fetchone()[0])

    async def _for_face(self, scope: str, source_hash: str, box: tuple[int, ...]) -> list[Suggestion]:
        found = await self._select(
            "scope=? AND source_hash=? AND status=? ORDER BY created", (scope, source_hash, PENDING)
        )
        return [s for s in found if tuple(s.box) == box]

    async def _decide(self, scope: str, sid: str, fields: dict) -> bool:
        values = [fields[k] for k in DECIDED]

        def update(conn: sqlite3.Connection) -> bool:
            with conn:
                cur = conn.execute(
                    f"UPDATE suggestions SET {', '.join(f'{k}=?' for k in DECIDED)} WHERE scope=? AND id=? AND status=?",
                    (*values, scope, sid, PENDING),
                )
            return cur.rowcount == 1

        return await self._run(update)

    async def _delete(self, scope: str, sid: str) -> None:
        def delete(conn: sqlite3.Connection) -> None:
            with conn:
                conn.execute("DELETE FROM suggestions WHERE scope=? AND id=?", (scope, sid))

        await self._run(delete)

    async def _drop_name(self, scope: str, name: str) -> int:
        def delete(conn: sqlite3.Connection) -> int:
            with conn:
                return conn.execute(
                    "DELETE FROM suggestions WHERE scope=? AND name=? AND status=?", (scope, name, PENDING)
                ).rowcount

        return await self._run(delete)

    async def _older_pending(self, scope: str | None, before: float) -> list[Suggestion]:
        if scope is None:
            return await self._select("status=? AND created<?", (PENDING, before))
        return await self._select("scope=? AND status=? AND created<?", (scope, PENDING, before))

    async def _clear(self, scope: str) -> int:
        def delete(conn: sqlite3.Connection) -> int:
            with conn:
                return conn.execute("DELETE FROM suggestions WHERE scope=?", (scope,)).rowcount

        return await self._run(delete)
