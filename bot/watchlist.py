"""Watched channels, persisted in a small SQLite file so they survive restarts.

Reads are served from memory (every posted message asks); each change is one committed
transaction (WAL, synchronous=FULL), so a crash leaves either the old or the new state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from pathlib import Path

from .errors import StateUnavailable

log = logging.getLogger(__name__)

SCHEMA = "CREATE TABLE IF NOT EXISTS watched (channel_id INTEGER PRIMARY KEY, guild_id INTEGER NOT NULL)"


class WatchList:
    """Channels in which every posted picture is looked at."""

    def __init__(self, path: Path, channels: dict[int, int]) -> None:
        self.path = path
        self._channels = channels  # channel id → guild id

    @classmethod
    async def open(cls, path: str | Path) -> WatchList:
        path = Path(path)

        def load() -> dict[int, int]:
            with contextlib.closing(cls._connect(path)) as conn:
                return dict(conn.execute("SELECT channel_id, guild_id FROM watched").fetchall())

        channels = await asyncio.to_thread(cls._guard, path, load)
        log.info("watching %d channel(s)", len(channels))
        return cls(path, channels)

    @staticmethod
    def _connect(path: Path) -> sqlite3.Connection:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute(SCHEMA)
        return conn

    @staticmethod
    def _guard(path: Path, fn):
        try:
            return fn()
        except (sqlite3.Error, OSError) as exc:
            raise StateUnavailable(f"cannot use the bot state file {path}: {exc}") from exc

    def is_watched(self, channel_id: int) -> bool:
        return channel_id in self._channels

    def channels(self, guild_id: int) -> list[int]:
        """The watched channels of one guild."""
        return sorted(c for c, g in self._channels.items() if g == guild_id)

    async def set(self, guild_id: int, channel_id: int, watched: bool) -> None:
        """Watch or stop watching a channel (idempotent)."""

        def write() -> None:
            with contextlib.closing(self._connect(self.path)) as conn:
                if watched:
                    conn.execute(
                        "INSERT OR REPLACE INTO watched (channel_id, guild_id) VALUES (?, ?)", (channel_id, guild_id)
                    )
                else:
                    conn.execute("DELETE FROM watched WHERE channel_id = ?", (channel_id,))

        await asyncio.to_thread(self._guard, self.path, write)
        if watched:
            self._channels[channel_id] = guild_id
        else:
            self._channels.pop(channel_id, None)
