"""Manners under load: per-member and per-server rate limits, and a bounded work queue."""

from __future__ import annotations

import contextlib
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Hashable

from recognition.config import BotSettings

from .errors import Busy, OnCooldown, ServerOnCooldown


class Cooldowns:
    """At most `uses` hits per key within `per` seconds (a sliding window)."""

    def __init__(self, uses: int, per: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.uses = max(1, uses)
        self.per = per
        self.clock = clock
        self._hits: dict[Hashable, deque[float]] = {}

    def wait(self, key: Hashable) -> float:
        """Seconds until `key` may be used again (0: now); counts nothing."""
        now = self.clock()
        if len(self._hits) > 10_000:  # forget idle users now and then
            self._hits = {k: h for k, h in self._hits.items() if h and now - h[-1] < self.per}
        hits = self._hits.setdefault(key, deque())
        while hits and now - hits[0] >= self.per:
            hits.popleft()
        return self.per - (now - hits[0]) if len(hits) >= self.uses else 0.0

    def hit(self, key: Hashable) -> None:
        """Count one use of `key`, or raise `OnCooldown` with the seconds to wait."""
        wait = self.wait(key)
        if wait > 0:
            raise OnCooldown(wait)
        self._hits[key].append(self.clock())


class RateLimits:
    """A member's uses (`member`) and a whole server's (`server`, None: unlimited), counted together:
    a use refused by either limit is counted by neither."""

    def __init__(self, member: Cooldowns, server: Cooldowns | None = None) -> None:
        self.member, self.server = member, server

    @classmethod
    def from_settings(cls, bot: BotSettings) -> RateLimits:
        """`bot.cooldown_uses` per `bot.cooldown_seconds` a member, `bot.server_uses` per
        `bot.server_seconds` a server (no server limit when `server_uses` is 0)."""
        server = Cooldowns(bot.server_uses, bot.server_seconds) if bot.server_uses > 0 else None
        return cls(Cooldowns(bot.cooldown_uses, bot.cooldown_seconds), server)

    def hit(self, member: Hashable, server: Hashable | None) -> None:
        """Count one use, or raise `OnCooldown` (the member's limit) or `ServerOnCooldown` (the server's)."""
        wait = self.member.wait(member)
        if wait > 0:
            raise OnCooldown(wait)
        if server is not None:
            self.hit_server(server)
        self.member.hit(member)

    def hit_server(self, server: Hashable) -> None:
        """Count one use by the server alone (a watched channel's picture), or raise `ServerOnCooldown`."""
        if self.server is not None:
            wait = self.server.wait(server)
            if wait > 0:
                raise ServerOnCooldown(wait)
            self.server.hit(server)


class WorkQueue:
    """Admits at most `capacity` jobs at once (downloading, waiting for the inference worker or
    analysed by it); beyond that `Busy`, so requests and the bytes they hold never pile up.

    `Busy.retry_after` is the moving average of how long a job held its slot (a slot frees about
    that soon: the oldest of the running jobs started earlier); `FIRST_GUESS` before any job ended."""

    FIRST_GUESS = 5.0

    def __init__(self, capacity: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = max(1, capacity)
        self.active = 0
        self.clock = clock
        self.job_seconds: float | None = None

    def retry_after(self) -> float:
        return self.FIRST_GUESS if self.job_seconds is None else self.job_seconds

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        if self.active >= self.capacity:
            raise Busy(self.retry_after())
        self.active += 1
        started = self.clock()
        try:
            yield
        finally:
            self.active -= 1
            held = self.clock() - started
            self.job_seconds = held if self.job_seconds is None else 0.8 * self.job_seconds + 0.2 * held
