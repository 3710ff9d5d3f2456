"""The review queue's interface: suggestions made by members, decided by admins, per scope.

Public methods do the shared work once (validation, clean names, string scopes, the pending-only
state transition) and call small private methods that each backend implements.
"""

from __future__ import annotations

import hashlib
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field, replace

import numpy as np

from ..faces import Box
from ..gallery import clean_name

PENDING, APPROVED, REJECTED, EXPIRED = "pending", "approved", "rejected", "expired"
STATUSES = (PENDING, APPROVED, REJECTED, EXPIRED)
# A face kaobot answered "unknown", kept (opt-in, `review.unknowns`) to be clustered and named by an
# admin; stored as a suggestion of this status, with the placeholder name and suggester below.
UNKNOWN = "unknown"
UNKNOWN_NAME, UNKNOWN_SUGGESTER = "unknown face", "kaobot"
ID_LENGTH = 12


def suggestion_id(scope: str, source_hash: str, box: Box, name: str, suggester: str) -> str:
    """Deterministic: the same member suggesting the same name for the same face twice makes one
    suggestion, not two."""
    key = "\x1f".join([scope, source_hash, ",".join(map(str, box)), name, suggester])
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:ID_LENGTH]


@dataclass(frozen=True)
class Suggestion:
    """A member's answer to "who is this face?", waiting for an admin (or decided)."""

    scope: str
    name: str  # the suggested character
    suggester: str  # who suggested it (a Discord user id, "cli", ...)
    model_id: str  # the embedder that made `vector`
    vector: np.ndarray
    crop: bytes  # JPEG of the face with context (as the gallery stores it), for display and re-embedding
    source_hash: str
    box: Box  # the face in the original picture
    message_link: str | None = None
    answer: str | None = None  # what kaobot said about this face (None: unknown)
    created: float = field(default_factory=time.time)
    status: str = PENDING
    decided_by: str | None = None
    decided_at: float | None = None
    enrolled_as: str | None = None  # the name it was enrolled under, when approved
    face_id: str | None = None  # the gallery face made on approval

    @property
    def id(self) -> str:
        return suggestion_id(self.scope, self.source_hash, self.box, self.name, self.suggester)

    @property
    def face_key(self) -> tuple[str, tuple[int, ...]]:
        """Which face of which picture this is about (suggestions of several members share it)."""
        return self.source_hash, tuple(self.box)

    def stale(self, model_id: str) -> bool:
        """Whether its vector is of another embedder than `model_id` (re-embedded from the crop on approval)."""
        return self.model_id != model_id


@dataclass(frozen=True)
class Decision:
    """What deciding a suggestion changed; `changed` is False when it had already been decided."""

    suggestion: Suggestion
    changed: bool


class ReviewQueue(ABC):
    """Durable store of suggestions; one scope never sees another's."""

    async def add(self, suggestion: Suggestion) -> Suggestion:
        """Store a pending suggestion (idempotent by id); returns the stored one (the earlier one
        when the same member already made it)."""
        s = prepare(suggestion)
        if s.status != PENDING:
            raise ValueError("a new suggestion must be pending")
        existing = await self._get(s.scope, s.id)
        if existing is not None:
            return existing
        await self._put(s)
        return s

    async def get(self, scope: str, sid: str) -> Suggestion | None:
        return await self._get(str(scope), str(sid).strip().lower())

    async def pending(self, scope: str, limit: int = 100) -> list[Suggestion]:
        """Pending suggestions of a scope, oldest first."""
        return await self._list(str(scope), PENDING, max(0, int(limit)))

    async def history(self, scope: str, limit: int = 100) -> list[Suggestion]:
        """Decided suggestions (approved, rejected, expired) of a scope, newest first."""
        decided = [s for status in (APPROVED, REJECTED, EXPIRED) for s in await self._list(str(scope), status, limit)]
        return sorted(decided, key=lambda s: -(s.decided_at or s.created))[:limit]

    async def count_pending(self, scope: str) -> int:
        return await self._count(str(scope), PENDING, None, None)

    async def count_by(self, scope: str, suggester: str, since: float) -> int:
        """Suggestions (any status) a member made in a scope since `since` (for the rate limit)."""
        return await self._count(str(scope), None, str(suggester), since)

    async def for_face(self, scope: str, source_hash: str, box: Box) -> list[Suggestion]:
        """Pending suggestions about one face (for votes)."""
        return await self._for_face(str(scope), source_hash, tuple(int(v) for v in box))

    async def decide(
        self,
        scope: str,
        sid: str,
        status: str,
        by: str,
        enrolled_as: str | None = None,
        face_id: str | None = None,
        at: float | None = None,
    ) -> Decision:
        """Move a pending suggestion to `status`; one that was already decided is left as it was
        (`changed` False). Raises `KeyError` when the scope holds no such suggestion."""
        if status not in (APPROVED, REJECTED, EXPIRED):
            raise ValueError(f"cannot decide a suggestion as {status!r}")
        scope, sid = str(scope), str(sid).strip().lower()
        decided = await self._decide(
            scope,
            sid,
            {
                "status": status,
                "decided_by": str(by),
                "decided_at": time.time() if at is None else float(at),
                "enrolled_as": None if enrolled_as is None else clean_name(enrolled_as),
                "face_id": face_id,
            },
        )
        current = await self._get(scope, sid)
        if current is None:
            raise KeyError(sid)
        return Decision(current, decided)

    async def delete(self, scope: str, sid: str) -> None:
        """Delete one suggestion (whatever its status)."""
        await self._delete(str(scope), str(sid).strip().lower())

    async def drop_name(self, scope: str, name: str) -> int:
        """Delete the pending suggestions naming a character (it was forgotten); returns how many."""
        return await self._drop_name(str(scope), clean_name(name))

    async def rename(self, scope: str, old: str, new: str) -> int:
        """Pending suggestions naming `old` now name `new` (the character was renamed)."""
        old, new = clean_name(old), clean_name(new)
        if old == new:
            return 0
        moved = 0
        for s in await self._list(str(scope), PENDING, None):
            if s.name == old:
                await self._delete(s.scope, s.id)
                await self.add(replace(s, name=new))
                moved += 1
        return moved

    async def expire(self, before: float, scope: str | None = None) -> int:
        """Mark pending suggestions made before `before` expired; returns how many."""
        expired = 0
        for s in await self._older_pending(None if scope is None else str(scope), float(before)):
            decision = await self.decide(s.scope, s.id, EXPIRED, "expiry")
            expired += decision.changed
        return expired

    async def add_unknown(self, sighting: Suggestion) -> Suggestion:
        """Keep a face answered "unknown" (idempotent: the same face of the same picture is kept once)."""
        s = prepare(replace(sighting, name=UNKNOWN_NAME, suggester=UNKNOWN_SUGGESTER, status=UNKNOWN))
        existing = await self._get(s.scope, s.id)
        if existing is not None:
            return existing
        await self._put(s)
        return s

    async def unknowns(self, scope: str) -> list[Suggestion]:
        """The kept "unknown" faces of a scope, oldest first."""
        return await self._list(str(scope), UNKNOWN, None)

    async def clear(self, scope: str) -> int:
        """Delete every suggestion of a scope."""
        return await self._clear(str(scope))

    async def __aenter__(self) -> ReviewQueue:
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.close()

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def _put(self, s: Suggestion) -> None: ...

    @abstractmethod
    async def _get(self, scope: str, sid: str) -> Suggestion | None: ...

    @abstractmethod
    async def _list(self, scope: str, status: str, limit: int | None) -> list[Suggestion]:
        """Suggestions of one status, oldest first; `limit` None: all."""

    @abstractmethod
    async def _count(self, scope: str, status: str | None, suggester: str | None, since: float | None) -> int: ...

    @abstractmethod
    async def _for_face(self, scope: str, source_hash: str, box: tuple[int, ...]) -> list[Suggestion]: ...

    @abstractmethod
    async def _decide(self, scope: str, sid: str, fields: dict) -> bool:
        """Set `fields` on the suggestion only while it is pending (atomically); whether it changed."""

    @abstractmethod
    async def _delete(self, scope: str, sid: str) -> None: ...

    @abstractmethod
    async def _drop_name(self, scope: str, name: str) -> int: ...

    @abstractmethod
    async def _older_pending(self, scope: str | None, before: float) -> list[Suggestion]: ...

    @abstractmethod
    async def _clear(self, scope: str) -> int: ...


def prepare(s: Suggestion) -> Suggestion:
    """A suggestion as backends store it: clean name, string scope and suggester, int box, unit float32 vector."""
    vector = np.asarray(s.vector, dtype=np.float32).ravel()
    if vector.size == 0 or not np.all(np.isfinite(vector)):
        raise ValueError("a suggestion's face vector must be non-empty and finite")
    if not s.crop:
        raise ValueError("a suggestion needs the face crop (admins look at it; approval may re-embed it)")
    norm = float(np.linalg.norm(vector))
    return replace(
        s,
        scope=str(s.scope),
        name=clean_name(s.name),
        suggester=str(s.suggester),
        vector=vector / max(norm, 1e-12),
        box=tuple(int(v) for v in s.box),
        answer=None if s.answer is None else clean_name(s.answer),
    )
