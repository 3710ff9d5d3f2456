"""The review queue in Elasticsearch: one index, `<gallery alias>-review`, in the gallery's cluster.

Documents are keyed by scope and suggestion id. Deciding uses optimistic concurrency
(`if_seq_no` / `if_primary_term`), so two admins approving at once decide it once. Vectors and
crops are stored as base64 `binary` fields (not indexed: the queue is never searched by vector).
"""

from __future__ import annotations

import base64
import hashlib
import logging
from typing import Any

import numpy as np
from elasticsearch import ApiError, ConflictError, NotFoundError

from ..gallery.elastic import ElasticsearchGallery
from .base import PENDING, ReviewQueue, Suggestion

log = logging.getLogger(__name__)

REVIEW_MAPPING: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "id": {"type": "keyword"},
        "scope": {"type": "keyword"},
        "name": {"type": "keyword"},
        "suggester": {"type": "keyword"},
        "model_id": {"type": "keyword"},
        "vector": {"type": "binary"},
        "crop": {"type": "binary"},
        "source_hash": {"type": "keyword"},
        "box": {"type": "integer"},
        "message_link": {"type": "keyword", "index": False},
        "answer": {"type": "keyword"},
        "created": {"type": "date", "format": "epoch_millis"},
        "status": {"type": "keyword"},
        "decided_by": {"type": "keyword"},
        "decided_at": {"type": "date", "format": "epoch_millis"},
        "enrolled_as": {"type": "keyword"},
        "face_id": {"type": "keyword"},
    },
}


def _doc_id(scope: str, sid: str) -> str:
    return hashlib.sha256(f"{scope}\x1f{sid}".encode()).hexdigest()[:32]


def _millis(t: float | None) -> int | None:
    return None if t is None else int(round(t * 1000))


def _to_doc(s: Suggestion) -> dict[str, Any]:
    return {
        "id": s.id,
        "scope": s.scope,
        "name": s.name,
        "suggester": s.suggester,
        "model_id": s.model_id,
        "vector": base64.b64encode(s.vector.astype(np.float32).tobytes()).decode("ascii"),
        "crop": base64.b64encode(s.crop).decode("ascii"),
        "source_hash": s.source_hash,
        "box": list(s.box),
        "message_link": s.message_link,
        "answer": s.answer,
        "created": _millis(s.created),
        "status": s.status,
        "decided_by": s.decided_by,
        "decided_at": _millis(s.decided_at),
        "enrolled_as": s.enrolled_as,
        "face_id": s.face_id,
    }


def _from_doc(src: dict[str, Any]) -> Suggestion:
    decided_at = src.get("decided_at")
    return Suggestion(
        scope=src["scope"],
        name=src["name"],
        suggester=src["suggester"],
        model_id=src["model_id"],
        vector=np.frombuffer(base64.b64decode(src["vector"]), np.float32).copy(),
        crop=base64.b64decode(src["crop"]),
        source_hash=src["source_hash"],
        box=tuple(int(v) for v in src["box"]),
        message_link=src.get("message_link"),
        answer=src.get("answer"),
        created=float(src["created"]) / 1000.0,
        status=src["status"],
        decided_by=src.get("decided_by"),
        decided_at=None if decided_at is None else float(decided_at) / 1000.0,
        enrolled_as=src.get("enrolled_as"),
        face_id=src.get("face_id"),
    )


def _filter(**terms: Any) -> dict[str, Any]:
    return {"bool": {"filter": [{"term": {k: v}} for k, v in terms.items() if v is not None]}}


class ElasticsearchReviewQueue(ReviewQueue):
    """The review queue next to an Elasticsearch gallery; see the module docstring.

    It uses the gallery's client and retry policy (`ElasticsearchGallery._call`), so a process keeps
    one client per cluster; with `owns_client` False the gallery closes that client, not the queue."""

    def __init__(self, gallery: ElasticsearchGallery, owns_client: bool = True) -> None:
        self.gallery = gallery
        self.owns_client = owns_client
        self.client = gallery.client
        self.index = f"{gallery.alias}-review"
        self._ready = False

    async def close(self) -> None:
        if self.owns_client:
            await self.gallery.close()

    async def _call(self, what: str, call):
        return await self.gallery._call(what, call)

    async def _ensure(self) -> None:
        if self._ready:
            return
        try:
            await self._call(
                "creating the review index",
                lambda: self.client.indices.create(
                    index=self.index,
                    mappings=REVIEW_MAPPING,
                    settings={"number_of_shards": 1, "number_of_replicas": self.gallery.settings.replicas},
                ),
            )
        except ApiError as exc:
            if exc.meta.status != 400 or "already_exists" not in str(exc.error):
                raise
        self._ready = True

    async def _search(
        self, query: dict[str, Any], sort: list | None = None, size: int | None = None
    ) -> list[Suggestion]:
        """Every match (search_after on (created, id)), or the first `size`."""
        out: list[Suggestion] = []
        if size == 0:
            return out
        after = None
        page = 500 if size is None else min(size, 500)
        while size is None or len(out) < size:
            kwargs: dict[str, Any] = {
                "index": self.index,
                "query": query,
                "size": page,
                "sort": sort or [{"created": "asc"}, {"id": "asc"}],
            }
            if after is not None:
                kwargs["search_after"] = after
            try:
                resp = await self._call("reading suggestions", lambda kwargs=kwargs: self.client.search(**kwargs))
            except NotFoundError:
                return out
            hits = resp["hits"]["hits"]
            out += [_from_doc(h["_source"]) for h in hits]
            if len(hits) < page:
                break
            after = hits[-1]["sort"]
        return out if size is None else out[:size]

    async def _refresh(self) -> None:
        await self._call("refreshing", lambda: self.client.indices.refresh(index=self.index))

    async def _put(self, s: Suggestion) -> None:
        await self._ensure()
        try:
            await self._call(
                "storing a suggestion",
                lambda: self.client.create(
                    index=self.index, id=_doc_id(s.scope, s.id), document=_to_doc(s), refresh="wait_for"
                ),
            )
        except ConflictError:
            pass  # the same suggestion, already stored

    async def _get_raw(self, scope: str, sid: str) -> dict[str, Any] | None:
        try:
            resp = await self._call(
                "reading a suggestion", lambda: self.client.get(index=self.index, id=_doc_id(scope, sid))
            )
        except NotFoundError:
            return None
        return resp.body if resp.body.get("found") else None

    async def _get(self, scope: str, sid: str) -> Suggestion | None:
        raw = await self._get_raw(scope, sid)
        return None if raw is None else _from_doc(raw["_source"])

    async def _list(self, scope: str, status: str, limit: int | None) -> list[Suggestion]:
        return await self._search(_filter(scope=scope, status=status), size=limit)

    async def _count(self, scope: str, status: str | None, suggester: str | None, since: float | None) -> int:
        query = _filter(scope=scope, status=status, suggester=suggester)
        if since is not None:
            query["bool"]["filter"].append({"range": {"created": {"gte": _millis(since)}}})
        try:
            resp = await self._call("counting suggestions", lambda: self.client.count(index=self.index, query=query))
        except NotFoundError:
            return 0
        return int(resp["count"])

    async def _for_face(self, scope: str, source_hash: str, box: tuple[int, ...]) -> list[Suggestion]:
        found = await self._search(_filter(scope=scope, source_hash=source_hash, status=PENDING))
        return [s for s in found if tuple(s.box) == box]

    async def _decide(self, scope: str, sid: str, fields: dict) -> bool:
        raw = await self._get_raw(scope, sid)
        if raw is None or raw["_source"]["status"] != PENDING:
            return False
        doc = dict(raw["_source"])
        doc.update(fields)
        doc["decided_at"] = _millis(fields["decided_at"])
        try:
            await self._call(
                "deciding a suggestion",
                lambda: self.client.index(
                    index=self.index,
                    id=_doc_id(scope, sid),
                    document=doc,
                    if_seq_no=raw["_seq_no"],
                    if_primary_term=raw["_primary_term"],
                    refresh="wait_for",
                ),
            )
        except ConflictError:  # decided by someone else in between
            return False
        return True

    async def _delete(self, scope: str, sid: str) -> None:
        await self._call(
            "deleting a suggestion",
            lambda: self.client.options(ignore_status=404).delete(
                index=self.index, id=_doc_id(scope, sid), refresh=True
            ),
        )

    async def _delete_query(self, query: dict[str, Any]) -> int:
        try:
            resp = await self._call(
                "deleting suggestions",
                lambda: self.client.delete_by_query(index=self.index, query=query, refresh=True, conflicts="proceed"),
            )
        except NotFoundError:
            return 0
        return int(resp["deleted"])

    async def _drop_name(self, scope: str, name: str) -> int:
        return await self._delete_query(_filter(scope=scope, name=name, status=PENDING))

    async def _older_pending(self, scope: str | None, before: float) -> list[Suggestion]:
        query = _filter(scope=scope, status=PENDING)
        query["bool"]["filter"].append({"range": {"created": {"lt": _millis(before)}}})
        return await self._search(query)

    async def _clear(self, scope: str) -> int:
        return await self._delete_query(_filter(scope=scope))
