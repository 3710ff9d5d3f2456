"""Manners under load: per-user cooldowns and a bounded work queue."""

from __future__ import annotations

import contextlib
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Hashable

from .errors import Busy, OnCooldown


class Cooldowns:
    """At most `uses` hits per key within `per` seconds (a sliding window)."""

    def __init__(self, uses: int, per: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.uses = max(1, uses)
        self.per = per
        self.clock = clock
        self._hits: dict[Hashable, deque[float]] = {}

    def hit(self, key: Hashable) -> None:
        """Count one use of `key`, or raise `OnCooldown` with the seconds to wait."""
        now = self.clock()
        if len(self._hits) > 10_000:  # forget idle users now and then
            self._hits = {k: h for k, h in self._hits.items() if h and now - h[-1] < self.per}
        hits = self._hits.setdefault(key, deque())
        while hits and now - hits[0] >= self.per:
            hits.popleft()
        if len(hits) >= self.uses:
            raise OnCooldown(self.per - (now - hits[0]))
        hits.append(now)


class WorkQueue:
    """Admits at most `capacity` jobs at once (downloading, waiting for the inference worker or
    analysed by it); beyond that `Busy`, so requests and the bytes they hold never pile up."""

    def __init__(self, capacity: int) -> None:
        self.capacity = max(1, capacity)
        self.active = 0

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        if self.active >= self.capacity:
            raise Busy()
        self.active += 1
        try:
            yield
        finally:
            self.active -= 1
