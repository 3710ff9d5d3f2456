"""The gallery interface: enrolled face vectors per scope (a guild id or `global`).

Public methods do the shared work once (validation, normalisation, per-character ranking) and
call small private methods that each backend implements.
"""

from __future__ import annotations

import hashlib
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import UnknownCharacter
from ..faces import Box
from ..preprocess import l2_normalize

GLOBAL_SCOPE = "global"


def clean_name(name: str) -> str:
    """Character names are compared after trimming and collapsing whitespace."""
    cleaned = " ".join(str(name).split())
    if not cleaned:
        raise ValueError("a character name cannot be empty")
    if len(cleaned) > 100:
        raise ValueError("a character name can have at most 100 characters")
    return cleaned


def face_id(scope: str, name: str, model_id: str, source_hash: str, box: Box) -> str:
    """Deterministic id of a stored face: re-running an import never duplicates it."""
    key = "\x1f".join([scope, name, model_id, source_hash, ",".join(map(str, box))])
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True)
class FaceRecord:
    """One enrolled face: its vector and where it came from."""

    scope: str
    name: str
    model_id: str
    vector: np.ndarray
    source_hash: str
    box: Box
    crop: bytes | None = None  # JPEG of the face with context, kept for re-embedding
    created: float = field(default_factory=time.time)

    @property
    def id(self) -> str:
        return face_id(self.scope, self.name, self.model_id, self.source_hash, self.box)


@dataclass(frozen=True)
class Candidate:
    """A character and its best similarity to a query face."""

    name: str
    similarity: float
    series: str | None = None
    link: str | None = None


@dataclass
class RewriteSummary:
    """What a `Gallery.rewrite` did."""

    seen: int = 0
    kept: int = 0
    replaced: int = 0
    dropped: int = 0


Transform = Callable[[list[FaceRecord]], Awaitable[list[FaceRecord | None]]]


@dataclass(frozen=True)
class StoredFace:
    """One stored face as a person reviews it: its id, character, box and JPEG crop (no vector)."""

    id: str
    scope: str
    name: str
    model_id: str
    box: Box
    created: float
    crop: bytes | None = None


@dataclass(frozen=True)
class CharacterInfo:
    """A character enrolled in a scope, with the number of faces stored for it."""

    name: str
    faces: int
    series: str | None = None
    link: str | None = None


class Gallery(ABC):
    """Async store of face vectors with exact per-scope, per-model search."""

    async def add(self, records: Sequence[FaceRecord]) -> list[str]:
        """Store faces (idempotent by content); returns their ids.

        Raises `GalleryWriteError` (listing the faces not stored) when only some could be stored."""
        prepared = [prepare_record(rec) for rec in records]
        if not prepared:
            return []
        await self._add(prepared)
        return [rec.id for rec in prepared]

    async def search(self, vectors: np.ndarray, scope: str, model_id: str, k: int) -> list[list[Candidate]]:
        """For each query vector, the `k` most similar characters (best face each), best first."""
        queries = l2_normalize(np.atleast_2d(np.asarray(vectors, dtype=np.float32)))
        if len(queries) == 0 or k <= 0:
            return [[] for _ in range(len(queries))]
        hits = await self._search(queries, str(scope), model_id, k)
        if not any(hits):
            return hits
        info = await self._describe(str(scope), sorted({c.name for row in hits for c in row}))
        return [[Candidate(c.name, c.similarity, *info[c.name]) if c.name in info else c for c in row] for row in hits]

    async def has_source(self, scope: str, name: str, model_id: str, source_hash: str) -> bool:
        """Whether this picture is already enrolled for this character."""
        return await self._has_source(str(scope), clean_name(name), model_id, source_hash)

    async def forget(self, scope: str, name: str) -> int:
        """Delete a character and all its faces; raises `UnknownCharacter` when absent."""
        removed = await self._forget(str(scope), clean_name(name))
        if not removed:
            raise UnknownCharacter(f"no character named {clean_name(name)!r} is enrolled here")
        return removed

    async def rename(self, scope: str, old: str, new: str) -> int:
        """Rename a character (merging into `new` if it exists); returns the faces moved."""
        old, new = clean_name(old), clean_name(new)
        moved = await self._rename(str(scope), old, new) if old != new else await self._count_name(str(scope), old)
        if not moved:
            raise UnknownCharacter(f"no character named {old!r} is enrolled here")
        return moved

    async def set_character_info(
        self, scope: str, name: str, series: str | None = None, link: str | None = None
    ) -> None:
        """Attach an optional series (franchise) name and link to a character."""
        await self._set_character_info(str(scope), clean_name(name), series or None, link or None)

    async def characters(self, scope: str) -> list[CharacterInfo]:
        """Characters of a scope with their face counts, sorted by name."""
        return sorted(await self._characters(str(scope)), key=lambda c: c.name.casefold())

    async def count(self, scope: str | None = None) -> int:
        """Number of stored faces (in one scope, or in all)."""
        return await self._count(None if scope is None else str(scope))

    async def clear(self, scope: str) -> int:
        """Delete everything in a scope; returns the faces removed."""
        return await self._clear(str(scope))

    async def model_ids(self, scope: str | None = None) -> dict[str, int]:
        """Faces stored per embedder model id (to spot galleries that need re-embedding)."""
        return await self._model_ids(None if scope is None else str(scope))

    def records(self, scope: str | None = None, batch_size: int = 500) -> AsyncIterator[list[FaceRecord]]:
        """Every stored face, in batches (for migration and re-embedding)."""
        return self._records(None if scope is None else str(scope), batch_size)

    async def faces(self, scope: str, name: str) -> list[StoredFace]:
        """The faces stored for one character of a scope (every model id), oldest first; empty when
        the character is not enrolled there."""
        found = await self._faces(str(scope), clean_name(name), None)
        return sorted(found, key=lambda f: (f.created, f.id))

    async def face(self, scope: str, face_id: str) -> StoredFace | None:
        """One stored face of a scope by id, else None (a face of another scope is not found)."""
        found = await self._faces(str(scope), None, str(face_id))
        return found[0] if found else None

    async def delete_faces(self, ids: Sequence[str]) -> int:
        """Delete faces by id (ids not stored are ignored); returns the faces removed."""
        return await self._delete_faces(list(dict.fromkeys(ids))) if ids else 0

    async def rewrite(
        self,
        transform: Transform,
        batch_size: int = 256,
        progress: Callable[[int], None] | None = None,
        dims: int | None = None,
    ) -> RewriteSummary:
        """Pass every stored face through `transform` (used to re-embed after a model change).

        `transform` gets a batch of records and returns one entry per record: the record itself
        (kept), another record (replaces it) or `None` (deleted). Backends with versioned storage
        write a new version and switch to it at the end, so readers see the old gallery until then;
        others replace faces in place (a re-run after an interruption finishes the job). `dims`,
        when known, is the size of the vectors `transform` produces (a new version is made for it).
        """
        summary = RewriteSummary()
        written: set[str] = set()  # in-place rewrites meet their own new records again: skip them
        state = await self._rewrite_begin(dims)
        try:
            async for records in self._records(None, batch_size):
                batch = [r for r in records if r.id not in written]
                if not batch:
                    continue
                out = await transform(batch)
                if len(out) != len(batch):
                    raise ValueError("a rewrite transform must return one entry per record")
                new = [r if r is None or r is old else prepare_record(r) for old, r in zip(batch, out)]
                await self._rewrite_batch(state, batch, new)
                written.update(r.id for old, r in zip(batch, new) if r is not None and r is not old)
                summary.seen += len(batch)
                summary.kept += sum(r is old for old, r in zip(batch, new))
                summary.dropped += sum(r is None for r in new)
                if progress is not None:
                    progress(len(batch))
            summary.replaced = summary.seen - summary.kept - summary.dropped
            await self._rewrite_commit(state, summary)
        except BaseException:
            await self._rewrite_abort(state)
            raise
        return summary

    async def __aenter__(self) -> Gallery:
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.close()

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def _add(self, records: list[FaceRecord]) -> None: ...

    @abstractmethod
    async def _search(self, queries: np.ndarray, scope: str, model_id: str, k: int) -> list[list[Candidate]]: ...

    @abstractmethod
    async def _has_source(self, scope: str, name: str, model_id: str, source_hash: str) -> bool: ...

    @abstractmethod
    async def _forget(self, scope: str, name: str) -> int: ...

    @abstractmethod
    async def _rename(self, scope: str, old: str, new: str) -> int: ...

    @abstractmethod
    async def _count_name(self, scope: str, name: str) -> int: ...

    @abstractmethod
    async def _set_character_info(self, scope: str, name: str, series: str | None, link: str | None) -> None: ...

    @abstractmethod
    async def _characters(self, scope: str) -> list[CharacterInfo]: ...

    @abstractmethod
    async def _count(self, scope: str | None) -> int: ...

    @abstractmethod
    async def _clear(self, scope: str) -> int: ...

    @abstractmethod
    async def _model_ids(self, scope: str | None) -> dict[str, int]: ...

    @abstractmethod
    def _records(self, scope: str | None, batch_size: int) -> AsyncIterator[list[FaceRecord]]: ...

    @abstractmethod
    async def _delete_faces(self, ids: list[str]) -> int: ...

    @abstractmethod
    async def _faces(self, scope: str, name: str | None, face_id: str | None) -> list[StoredFace]:
        """Faces of `scope` with that name and/or that id (at least one is given)."""

    async def _describe(self, scope: str, names: list[str]) -> dict[str, tuple[str | None, str | None]]:
        """(series, link) of the named characters that have them. Backends where listing every
        character of a scope is costly override this."""
        wanted = set(names)
        return {c.name: (c.series, c.link) for c in await self._characters(scope) if c.name in wanted}

    # Rewrite hooks; the defaults replace faces in place.
    async def _rewrite_begin(self, dims: int | None) -> Any:
        return None

    async def _rewrite_batch(self, state: Any, old: list[FaceRecord], new: list[FaceRecord | None]) -> None:
        changed = [(o, n) for o, n in zip(old, new) if n is not o]
        if not changed:
            return
        same_id = [o.id for o, n in changed if n is not None and n.id == o.id]
        if same_id:  # adding is idempotent by id: drop the old version first
            await self._delete_faces(same_id)
        await self._add([n for _, n in changed if n is not None])
        await self._delete_faces([o.id for o, n in changed if n is None or n.id != o.id])

    async def _rewrite_commit(self, state: Any, summary: RewriteSummary) -> None:
        return None

    async def _rewrite_abort(self, state: Any) -> None:
        return None


def prepare_record(rec: FaceRecord) -> FaceRecord:
    """A record as backends store it: finite unit vector, clean name, string scope, int box."""
    vector = np.asarray(rec.vector, dtype=np.float32).ravel()
    if vector.size == 0 or not np.all(np.isfinite(vector)):
        raise ValueError("a face vector must be non-empty and finite")
    return FaceRecord(
        scope=str(rec.scope),
        name=clean_name(rec.name),
        model_id=rec.model_id,
        vector=l2_normalize(vector),
        source_hash=rec.source_hash,
        box=tuple(int(v) for v in rec.box),
        crop=rec.crop,
        created=rec.created,
    )


def best_per_character(scores: np.ndarray, names: Sequence[str], k: int) -> list[Candidate]:
    """Top-k characters by their best-scoring face. `scores[i]` belongs to `names[i]`."""
    best: dict[str, float] = {}
    for idx in np.argsort(-scores):
        name = names[idx]
        if name not in best:
            best[name] = float(scores[idx])
            if len(best) == k:
                break
    return [Candidate(name, sim) for name, sim in best.items()]
