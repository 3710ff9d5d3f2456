"""One SQLite file used from one worker thread: the plumbing the SQLite gallery and the SQLite review
queue share.

The file is opened on first use (WAL journal, synchronous FULL, a 5 s busy timeout) and its schema
applied; every call runs on the file's own thread, off the event loop; every failure to open or to
run is `GalleryUnavailable`, naming the file.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from .errors import GalleryUnavailable

T = TypeVar("T")


class SQLiteFile:
    """`path` with `schema`; `what` names it in errors ("gallery file"), `owner` when closed ("gallery")."""

    def __init__(self, path: str | Path, schema: str, what: str, owner: str, thread_name: str) -> None:
        self.path = Path(path)
        self._schema, self._what, self._owner = schema, what, owner
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=thread_name)
        self._conn: sqlite3.Connection | None = None
        self.closed = False

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(self.path, isolation_level=None)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=FULL")
                conn.execute("PRAGMA busy_timeout=5000")
                conn.executescript(self._schema)
            except (sqlite3.Error, OSError) as exc:
                raise GalleryUnavailable(f"cannot open the {self._what} {self.path}: {exc}") from exc
            self._conn = conn
        return self._conn

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """`fn(connection)` on the file's thread."""
        if self.closed:
            raise GalleryUnavailable(f"the {self._owner} is closed")

        def call() -> T:
            conn = self._connect()
            try:
                return fn(conn)
            except sqlite3.DatabaseError as exc:
                raise GalleryUnavailable(f"{self._what} {self.path}: {exc}") from exc

        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    async def close(self) -> None:
        """Close the connection (if it was opened) and the thread; later calls are refused."""
        if self.closed:
            return
        if self._conn is not None:
            await self.run(lambda conn: conn.close())
        self.closed = True
        self._executor.shutdown(wait=True)
