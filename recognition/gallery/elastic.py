"""Elasticsearch gallery: faces in versioned indices behind one alias, kNN search per scope and model.

Client and servers: the `elasticsearch` 8.x client (`AsyncElasticsearch`). It talks to Elasticsearch
8.x natively and to 9.x through REST compatibility; client 9.x would send `compatible-with=9`
headers that 8.x servers reject, so one 8.x client covers both. Features used: top-level `knn`
with a filter, `collapse`, `dense_vector` `index_options` of type `hnsw`/`int8_hnsw`/`flat`/
`int8_flat` — together they need Elasticsearch 8.13 or newer.

Layout, for alias `anime_face` (configurable):

* `anime_face-v<N>`: the faces. Writes and reads go through the alias; re-embedding writes
  `v<N+1>` and moves the alias in one `update_aliases` call.
* `anime_face-characters`: series and link per (scope, character).

The `embedding` field is a `dense_vector` with `similarity: cosine` and an explicit `index_options`
(float `hnsw` by default): left unset, Elasticsearch 8.14+/9.0 quantises to `int8_hnsw` and 9.1+
to 1-bit `bbq_hnsw` for >= 384 dims, which would make the returned similarities differ from the
SQLite gallery's and the configured threshold mean something else. With cosine similarity the
kNN `_score` is `(1 + cos) / 2`, so `cos = 2 * _score - 1`; the `script_score` mode scores
`cosineSimilarity + 1`, so `cos = _score - 1`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import os
import random
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

import numpy as np
from elastic_transport import ConnectionError as TransportConnectionError
from elastic_transport import ConnectionTimeout
from elasticsearch import ApiError, AsyncElasticsearch, ConflictError, NotFoundError, helpers

from ..config import ElasticsearchSettings
from ..errors import ConfigError, GalleryUnavailable, GalleryWriteError
from .base import Candidate, CharacterInfo, FaceRecord, Gallery, RewriteSummary, StoredFace

log = logging.getLogger(__name__)

T = TypeVar("T")

PASSWORD_ENV = "KAOBOT_ES_PASSWORD"
API_KEY_ENV = "KAOBOT_ES_API_KEY"
INDEX_TYPES = ("hnsw", "int8_hnsw", "flat", "int8_flat")
SEARCH_MODES = ("knn", "script_score")
TRANSIENT_STATUS = {429, 502, 503, 504}
MAX_BUCKETS = 65536  # Elasticsearch's default search.max_buckets


def face_mapping(dims: int, index_type: str) -> dict[str, Any]:
    """Mapping of a faces index; `dims` is the embedder's output size."""
    return {
        "dynamic": "strict",
        "properties": {
            # The original project's fields.
            "id": {"type": "keyword"},
            "name": {"type": "keyword"},
            "img_name": {"type": "keyword"},  # kept for the original layout; kaobot uses source_hash
            "embedding": {
                "type": "dense_vector",
                "dims": dims,
                "index": True,
                "similarity": "cosine",
                "index_options": {"type": index_type},
            },
            # kaobot's provenance fields.
            "scope": {"type": "keyword"},
            "model_id": {"type": "keyword"},
            "source_hash": {"type": "keyword"},
            "box": {"type": "integer"},
            "crop": {"type": "binary"},  # JPEG for re-embedding; binary fields are not indexed
            "created": {"type": "date", "format": "epoch_millis"},
        },
    }


CHARACTER_MAPPING: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "scope": {"type": "keyword"},
        "name": {"type": "keyword"},
        "series": {"type": "keyword"},
        "link": {"type": "keyword", "index": False},
    },
}


def _character_id(scope: str, name: str) -> str:
    return hashlib.sha256(f"{scope}\x1f{name}".encode()).hexdigest()[:32]


def _face_filter(scope: str | None = None, name: str | None = None, model_id: str | None = None) -> dict[str, Any]:
    terms = [{"term": {k: v}} for k, v in (("scope", scope), ("name", name), ("model_id", model_id)) if v is not None]
    return {"bool": {"filter": terms}} if terms else {"match_all": {}}


def _to_doc(rec: FaceRecord) -> dict[str, Any]:
    doc = {
        "id": rec.id,
        "name": rec.name,
        "scope": rec.scope,
        "model_id": rec.model_id,
        "source_hash": rec.source_hash,
        "box": list(rec.box),
        "created": int(round(rec.created * 1000)),
        "embedding": rec.vector.astype(np.float32).tolist(),
    }
    if rec.crop is not None:
        doc["crop"] = base64.b64encode(rec.crop).decode("ascii")
    return doc


def _from_doc(src: dict[str, Any]) -> FaceRecord:
    crop = src.get("crop")
    return FaceRecord(
        scope=src["scope"],
        name=src["name"],
        model_id=src["model_id"],
        vector=np.asarray(src["embedding"], dtype=np.float32),
        source_hash=src["source_hash"],
        box=tuple(int(v) for v in src["box"]),
        crop=base64.b64decode(crop) if crop else None,
        created=float(src["created"]) / 1000.0,
    )


_ERROR_TYPE = re.compile(r"[A-Za-z0-9_.]{1,80}")


def _reason(exc: BaseException) -> str:
    """A short reason without credentials: the HTTP status and Elasticsearch's error type. When the
    body is no Elasticsearch error (a proxy's page, an error that is only text), the client makes
    the whole body the "error", and a body can echo the Authorization header: it is left out."""
    if isinstance(exc, ApiError):
        kind = exc.error if isinstance(exc.error, str) and _ERROR_TYPE.fullmatch(exc.error) else None
        return f"HTTP {exc.meta.status} {kind}" if kind else f"HTTP {exc.meta.status}"
    return type(exc).__name__


def _item_error(info: dict[str, Any]) -> tuple[str, int, str]:
    """(`_id`, status, reason) of one failed bulk item."""
    (item,) = info.values()
    error = item.get("error", {})
    if isinstance(error, dict):
        text = f"{error.get('type', 'error')}: {error.get('reason', '')}"
        cause = error.get("caused_by")
        if isinstance(cause, dict) and cause.get("reason"):
            text += f" ({cause['reason']})"
    else:
        text = str(error)
    return str(item.get("_id")), int(item.get("status", 0)), text


@dataclass
class _Rewrite:
    old_index: str | None
    old_count: int
    dims: int | None = None
    new_index: str | None = None
    written: set[str] = field(default_factory=set)
    rejected: dict[str, str] = field(default_factory=dict)  # face id -> why it cannot be written


class ElasticsearchGallery(Gallery):
    """The gallery in an Elasticsearch cluster; see the module docstring."""

    def __init__(self, settings: ElasticsearchSettings, client: AsyncElasticsearch | None = None) -> None:
        _validate(settings)
        self.settings = settings
        self.alias = settings.index
        self.characters_index = f"{settings.index}-characters"
        self._where = ", ".join(settings.hosts)
        self.client = client or _client(settings)
        self._dims: int | None = None  # dims of the index behind the alias, once known

    # -- plumbing -----------------------------------------------------------------------------
    async def _call(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        """Run one request with retries and exponential backoff for transient failures; anything
        else that keeps the gallery from answering becomes `GalleryUnavailable`."""
        attempts = self.settings.retries + 1
        for attempt in range(attempts):
            try:
                return await call()
            except ApiError as exc:
                status = exc.meta.status
                # An error body can echo the request's Authorization header (a verbose proxy, a
                # security realm's message), so the `ApiError` is not chained: status and type say enough.
                if status in (401, 403):
                    raise GalleryUnavailable(
                        f"the Elasticsearch gallery at {self._where} refused the credentials while {what} ({_reason(exc)})"
                    ) from None
                if status >= 500 and status not in TRANSIENT_STATUS:  # a sick cluster: not worth a retry
                    raise GalleryUnavailable(
                        f"the Elasticsearch gallery at {self._where} failed while {what} ({_reason(exc)})"
                    ) from None
                if status not in TRANSIENT_STATUS:
                    raise  # 404, 409 and the like: the caller decides
                last: BaseException = exc
            except (TransportConnectionError, ConnectionTimeout) as exc:  # refused, reset, TLS, too slow
                last = exc
            if attempt + 1 < attempts:
                delay = self.settings.retry_backoff * 2**attempt * (0.5 + random.random())
                log.warning("Elasticsearch %s failed (%s); retry %d in %.1f s", what, _reason(last), attempt + 1, delay)
                await asyncio.sleep(delay)
        raise GalleryUnavailable(
            f"the Elasticsearch gallery at {self._where} is unavailable ({_reason(last)} while {what}, "
            f"{attempts} attempt(s))"
        ) from (None if isinstance(last, ApiError) else last)

    async def close(self) -> None:
        await self.client.close()

    async def _index_state(self) -> tuple[str, int] | None:
        """(concrete index, dims) behind the alias, or None before the first write."""
        try:
            resp = await self._call("reading the index", lambda: self.client.indices.get_mapping(index=self.alias))
        except NotFoundError:
            return None
        if len(resp.body) != 1:
            raise GalleryUnavailable(f"alias {self.alias!r} points to {len(resp.body)} indices; expected one")
        ((index, body),) = resp.body.items()
        if index == self.alias:
            raise ConfigError(
                f"{self.alias!r} is a concrete index, not an alias; kaobot keeps faces in versioned indices "
                f"behind an alias: choose another gallery.elasticsearch.index or move that index away"
            )
        vector_field = body["mappings"].get("properties", {}).get("embedding", {})
        self._dims = int(vector_field["dims"]) if "dims" in vector_field else None
        return index, self._dims or 0

    async def _next_index(self) -> str:
        resp = await self._call(
            "listing indices",
            lambda: self.client.indices.get(index=f"{self.alias}-v*", ignore_unavailable=True, allow_no_indices=True),
        )
        pattern = re.compile(rf"^{re.escape(self.alias)}-v(\d+)$")
        versions = [int(m.group(1)) for name in resp.body if (m := pattern.match(name))]
        return f"{self.alias}-v{max(versions, default=0) + 1}"

    async def _create_faces_index(self, index: str, dims: int, alias: bool) -> None:
        body: dict[str, Any] = {
            "mappings": face_mapping(dims, self.settings.index_type),
            "settings": {"number_of_shards": self.settings.shards, "number_of_replicas": self.settings.replicas},
        }
        if alias:
            body["aliases"] = {self.alias: {"is_write_index": True}}
        await self._call("creating an index", lambda: self.client.indices.create(index=index, **body))
        log.info("created Elasticsearch index %s (%d dims, %s)", index, dims, self.settings.index_type)

    async def _ensure_faces_index(self, dims: int) -> None:
        if self._dims is None:
            state = await self._index_state()
            if state is None:
                try:
                    await self._create_faces_index(await self._next_index(), dims, alias=True)
                    self._dims = dims
                except ApiError as exc:  # another process created it first
                    if exc.meta.status != 400 or "already_exists" not in str(exc.error):
                        raise
                    await self._index_state()
        if self._dims != dims:
            raise ValueError(
                f"the gallery index holds {self._dims}-dimensional vectors, not {dims}: "
                "re-embed the gallery (kaobot gallery reembed) after changing to a model of another size"
            )

    async def _ensure_characters_index(self) -> None:
        try:
            await self._call(
                "creating the characters index",
                lambda: self.client.indices.create(
                    index=self.characters_index,
                    mappings=CHARACTER_MAPPING,
                    settings={"number_of_shards": 1, "number_of_replicas": self.settings.replicas},
                ),
            )
        except ApiError as exc:
            if exc.meta.status != 400 or "already_exists" not in str(exc.error):
                raise

    async def _read(self, what: str, call: Callable[[], Awaitable[Any]], empty: Any) -> Any:
        """A read that returns `empty` while the index does not exist yet."""
        try:
            return await self._call(what, call)
        except NotFoundError:
            return empty

    # -- writes -------------------------------------------------------------------------------
    async def _add(self, records: list[FaceRecord]) -> None:
        await self._ensure_faces_index(records[0].vector.size)
        for rec in records:
            if rec.vector.size != self._dims:
                raise ValueError(f"face vectors have {rec.vector.size} dimensions; the gallery index has {self._dims}")
        if len(records) == 1:  # one enrolment: visible to the next search when this returns
            (rec,) = records
            try:
                await self._call(
                    "storing a face",
                    lambda: self.client.create(index=self.alias, id=rec.id, document=_to_doc(rec), refresh="wait_for"),
                )
            except ConflictError:
                pass  # already stored: adding is idempotent
            return
        try:
            await self._bulk_create(self.alias, records)
        except GalleryWriteError:  # what was stored is searchable when this returns
            await self._call("refreshing", lambda: self.client.indices.refresh(index=self.alias))
            raise
        await self._call("refreshing", lambda: self.client.indices.refresh(index=self.alias))

    async def _bulk_create(self, index: str, records: list[FaceRecord]) -> None:
        """Bulk `create` with deterministic ids (a re-run never duplicates); raises
        `GalleryWriteError` naming every face that was not stored."""
        failed: dict[str, str] = {}
        size = self.settings.bulk_chunk_size
        for start in range(0, len(records), size):
            chunk = records[start : start + size]
            actions = [{"_op_type": "create", "_index": index, "_id": r.id, "_source": _to_doc(r)} for r in chunk]
            _, errors = await self._call(
                "storing faces",
                lambda actions=actions: helpers.async_bulk(
                    self.client,
                    actions,
                    chunk_size=size,
                    max_retries=self.settings.retries,
                    initial_backoff=max(self.settings.retry_backoff, 0.1),
                    raise_on_error=False,
                ),
            )
            for info in errors:
                fid, status, reason = _item_error(info)
                if status != 409:  # 409: already stored
                    failed[fid] = reason
            log.info("bulk: %d/%d face(s) sent to %s", min(start + size, len(records)), len(records), index)
        if failed:
            stored = [r.id for r in records if r.id not in failed]
            first = next(iter(failed.values()))
            raise GalleryWriteError(
                f"{len(failed)} of {len(records)} face(s) were not stored in {index} (first reason: {first})",
                failed,
                stored,
            )

    async def _delete_query(self, index: str, query: dict[str, Any], what: str) -> int:
        resp = await self._read(
            what,
            lambda: self.client.delete_by_query(index=index, query=query, refresh=True, conflicts="proceed"),
            None,
        )
        return 0 if resp is None else int(resp["deleted"])

    async def _forget(self, scope: str, name: str) -> int:
        removed = await self._delete_query(self.alias, _face_filter(scope, name), "deleting a character")
        await self._delete_character(scope, name)
        return removed

    async def _delete_character(self, scope: str, name: str) -> None:
        await self._call(
            "deleting character info",
            lambda: self.client.options(ignore_status=404).delete(
                index=self.characters_index, id=_character_id(scope, name), refresh=True
            ),
        )

    async def _rename(self, scope: str, old: str, new: str) -> int:
        # The face id includes the name, so each face is written under its new id and the old one
        # deleted; a face already stored under the new name is simply dropped (a merge).
        moved = 0
        async for batch in self._scan(self.alias, _face_filter(scope, old), 500):
            records = [_from_doc(src) for src in batch]
            renamed = [
                FaceRecord(r.scope, new, r.model_id, r.vector, r.source_hash, r.box, r.crop, r.created) for r in records
            ]
            await self._bulk_create(self.alias, renamed)
            await self._delete_ids(self.alias, [r.id for r in records])
            moved += len(records)
        info = await self._character_info(scope, [old])
        if old in info:
            existing = await self._character_info(scope, [new])
            if new not in existing:
                await self._set_character_info(scope, new, *info[old])
            await self._delete_character(scope, old)
        return moved

    async def _delete_ids(self, index: str, ids: list[str]) -> int:
        if not ids:
            return 0
        actions = [{"_op_type": "delete", "_index": index, "_id": i} for i in ids]
        ok, errors = await self._call(
            "deleting faces",
            lambda: helpers.async_bulk(self.client, actions, raise_on_error=False, refresh=True),
        )
        problems = {fid: reason for fid, status, reason in map(_item_error, errors) if status != 404}
        if problems:
            raise GalleryWriteError(f"{len(problems)} face(s) could not be deleted", problems)
        return int(ok)

    async def _delete_faces(self, ids: list[str]) -> int:
        if await self._index_state() is None:
            return 0
        removed = 0
        for start in range(0, len(ids), self.settings.bulk_chunk_size):
            chunk = ids[start : start + self.settings.bulk_chunk_size]
            removed += await self._count_query(_ids_query(chunk))
            await self._delete_ids(self.alias, chunk)
        return removed

    async def _set_character_info(self, scope: str, name: str, series: str | None, link: str | None) -> None:
        await self._ensure_characters_index()
        doc = {"scope": scope, "name": name, "series": series, "link": link}
        await self._call(
            "storing character info",
            lambda: self.client.index(
                index=self.characters_index, id=_character_id(scope, name), document=doc, refresh="wait_for"
            ),
        )

    async def _clear(self, scope: str) -> int:
        removed = await self._delete_query(self.alias, _face_filter(scope), "clearing a scope")
        await self._delete_query(self.characters_index, _face_filter(scope), "clearing character info")
        return removed

    # -- reads --------------------------------------------------------------------------------
    def _search_body(self, query: np.ndarray, scope: str, model_id: str, k: int) -> dict[str, Any]:
        s = self.settings
        vector = query.astype(np.float32).tolist()
        flt = _face_filter(scope, model_id=model_id)
        body: dict[str, Any] = {"_source": ["name"]}
        if s.search == "knn":
            neighbours = max(s.k, k)
            body["knn"] = {
                "field": "embedding",
                "query_vector": vector,
                "k": neighbours,
                "num_candidates": min(max(s.num_candidates, neighbours), 10_000),
                "filter": flt,
            }
        else:  # exact scan of the filtered faces, as the original project did
            neighbours = max(s.k, k)
            body["query"] = {
                "script_score": {
                    "query": flt,
                    "script": {
                        "source": "cosineSimilarity(params.query_vector, 'embedding') + 1.0",
                        "params": {"query_vector": vector},
                    },
                }
            }
        if s.collapse:  # best face per character, done by the server
            body["collapse"] = {"field": "name"}
            body["size"] = k
        else:
            body["size"] = neighbours
        return body

    def _to_cosine(self, score: float) -> float:
        return 2.0 * score - 1.0 if self.settings.search == "knn" else score - 1.0

    async def _search(self, queries: np.ndarray, scope: str, model_id: str, k: int) -> list[list[Candidate]]:
        empty = [[] for _ in range(len(queries))]
        if self._dims is None and await self._index_state() is None:
            return empty  # nothing stored yet
        if self._dims != queries.shape[1]:
            return empty  # nothing stored yet, or no face of a model of this size can be stored here
        searches: list[dict[str, Any]] = []
        for q in queries:
            searches += [{}, self._search_body(q, scope, model_id, k)]
        resp = await self._read("searching", lambda: self.client.msearch(index=self.alias, searches=searches), None)
        if resp is None:
            return empty
        results = []
        for item in resp["responses"]:
            if "error" in item:
                if item.get("status") == 404:
                    results.append([])
                    continue
                err = item["error"]
                raise GalleryUnavailable(
                    f"the Elasticsearch gallery at {self._where} could not search: "
                    f"{err.get('type', 'error') if isinstance(err, dict) else err}"
                )
            best: dict[str, float] = {}
            for hit in item["hits"]["hits"]:  # sorted by score: the first hit of a name is its best
                name = hit["_source"]["name"]
                if name not in best:
                    best[name] = self._to_cosine(float(hit["_score"]))
            ranked = sorted(best.items(), key=lambda kv: -kv[1])[:k]
            results.append([Candidate(name, sim) for name, sim in ranked])
        return results

    async def _count_query(self, query: dict[str, Any], index: str | None = None) -> int:
        resp = await self._read("counting", lambda: self.client.count(index=index or self.alias, query=query), None)
        return 0 if resp is None else int(resp["count"])

    async def _has_source(self, scope: str, name: str, model_id: str, source_hash: str) -> bool:
        query = _face_filter(scope, name, model_id)
        query["bool"]["filter"].append({"term": {"source_hash": source_hash}})
        return await self._count_query(query) > 0

    async def _count_name(self, scope: str, name: str) -> int:
        return await self._count_query(_face_filter(scope, name))

    async def _count(self, scope: str | None) -> int:
        return await self._count_query(_face_filter(scope))

    async def _terms(self, key: str, query: dict[str, Any]) -> dict[str, int]:
        resp = await self._read(
            "aggregating",
            lambda: self.client.search(
                index=self.alias, size=0, query=query, aggs={"t": {"terms": {"field": key, "size": MAX_BUCKETS}}}
            ),
            None,
        )
        if resp is None:
            return {}
        agg = resp["aggregations"]["t"]
        if agg.get("sum_other_doc_count"):
            log.warning("more than %d distinct %s values: the list is cut", MAX_BUCKETS, key)
        return {b["key"]: int(b["doc_count"]) for b in agg["buckets"]}

    async def _character_info(
        self, scope: str, names: list[str] | None = None
    ) -> dict[str, tuple[str | None, str | None]]:
        query = _face_filter(scope)
        if names is not None:
            query["bool"]["filter"].append({"terms": {"name": names}})
        info = {}
        async for batch in self._scan(self.characters_index, query, 1000, sort_field="name"):
            for src in batch:
                info[src["name"]] = (src.get("series"), src.get("link"))
        return info

    async def _describe(self, scope: str, names: list[str]) -> dict[str, tuple[str | None, str | None]]:
        return await self._character_info(scope, names)

    async def _characters(self, scope: str) -> list[CharacterInfo]:
        counts = await self._terms("name", _face_filter(scope))
        if not counts:
            return []
        info = await self._character_info(scope)
        return [CharacterInfo(name, n, *info.get(name, (None, None))) for name, n in counts.items()]

    async def _model_ids(self, scope: str | None) -> dict[str, int]:
        return await self._terms("model_id", _face_filter(scope))

    async def _scan(
        self, index: str, query: dict[str, Any], batch_size: int, sort_field: str = "id"
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Matching `_source`s in batches, by `search_after` on a unique keyword field."""
        after: list[Any] | None = None
        while True:
            kwargs: dict[str, Any] = {"index": index, "query": query, "size": batch_size, "sort": [{sort_field: "asc"}]}
            if after is not None:
                kwargs["search_after"] = after
            resp = await self._read("reading faces", lambda kwargs=kwargs: self.client.search(**kwargs), None)
            hits = [] if resp is None else resp["hits"]["hits"]
            if not hits:
                return
            after = hits[-1]["sort"]
            yield [h["_source"] for h in hits]
            if len(hits) < batch_size:
                return

    async def _records(self, scope: str | None, batch_size: int) -> AsyncIterator[list[FaceRecord]]:
        async for batch in self._scan(self.alias, _face_filter(scope), batch_size):
            yield [_from_doc(src) for src in batch]

    async def _faces(self, scope: str, name: str | None, face_id: str | None) -> list[StoredFace]:
        query = _face_filter(scope, name)
        if face_id is not None:
            query["bool"]["filter"].append({"term": {"id": face_id}})
        found = []
        async for batch in self._scan(self.alias, query, 500):  # nothing before the first write
            for src in batch:
                r = _from_doc(src)
                found.append(StoredFace(r.id, r.scope, r.name, r.model_id, r.box, r.created, r.crop))
        return found

    # -- re-embedding: a new index, then one alias swap ----------------------------------------
    async def _rewrite_begin(self, dims: int | None) -> _Rewrite:
        state = await self._index_state()
        if state is None:
            return _Rewrite(old_index=None, old_count=0)
        count = await self._count_query({"match_all": {}}, state[0])
        return _Rewrite(old_index=state[0], old_count=count, dims=dims)

    async def _rewrite_batch(self, state: _Rewrite, old: list[FaceRecord], new: list[FaceRecord | None]) -> None:
        records = [r for r in new if r is not None]
        if not records:
            return
        if state.dims is None:
            state.dims = records[0].vector.size
        for r in records:  # one index holds one vector size: collect every face that cannot fit
            if r.vector.size != state.dims:
                state.rejected[r.id] = f"its vector has {r.vector.size} dimensions, the new index {state.dims}"
        records = [r for r in records if r.vector.size == state.dims]
        if not records:
            return
        if state.new_index is None:
            state.new_index = await self._next_index()
            await self._create_faces_index(state.new_index, state.dims, alias=False)
        await self._bulk_create(state.new_index, records)
        state.written.update(r.id for r in records)

    async def _rewrite_commit(self, state: _Rewrite, summary: RewriteSummary) -> None:
        if state.old_index is None:
            return
        if state.rejected:
            raise GalleryWriteError(
                f"{len(state.rejected)} face(s) cannot be kept in the new index "
                f"({next(iter(state.rejected.values()))}); nothing was changed. Re-embed or delete them "
                "(kaobot gallery reembed --drop-without-crop deletes faces without a usable crop)",
                state.rejected,
                sorted(state.written),
            )
        if state.new_index is None:  # every face was dropped: an empty index of the same size
            state.new_index = await self._next_index()
            await self._create_faces_index(state.new_index, state.dims or self._dims or 1, alias=False)
        new_index = state.new_index
        await self._call("refreshing", lambda: self.client.indices.refresh(index=new_index))
        copied = await self._count_query({"match_all": {}}, new_index)
        if copied != len(state.written):
            raise GalleryUnavailable(f"the new index {new_index} holds {copied} faces, expected {len(state.written)}")
        now = await self._count_query({"match_all": {}}, state.old_index)
        if now != state.old_count:
            raise GalleryUnavailable(
                f"the gallery changed during the rewrite ({state.old_count} → {now} faces); run it again"
            )
        old_index = state.old_index
        await self._call(
            "switching the alias",
            lambda: self.client.indices.update_aliases(
                actions=[
                    {"remove": {"index": old_index, "alias": self.alias}},
                    {"add": {"index": new_index, "alias": self.alias, "is_write_index": True}},
                ]
            ),
        )
        self._dims = None
        log.info("alias %s now points to %s; deleting %s", self.alias, new_index, old_index)
        await self._call(
            "deleting the old index",
            lambda: self.client.options(ignore_status=404).indices.delete(index=old_index),
        )

    async def _rewrite_abort(self, state: _Rewrite) -> None:
        if state.new_index is None:
            return
        new_index = state.new_index
        try:
            await self._call(
                "deleting the unfinished index",
                lambda: self.client.options(ignore_status=404).indices.delete(index=new_index),
            )
        except GalleryUnavailable:
            log.warning("could not delete the unfinished index %s; delete it by hand", new_index)


def _ids_query(ids: list[str]) -> dict[str, Any]:
    return {"ids": {"values": ids}}


def _validate(s: ElasticsearchSettings) -> None:
    problems = []
    if not s.hosts:
        problems.append("hosts must name at least one URL")
    for host in s.hosts:
        parts = urlsplit(host if "://" in host else f"http://{host}")
        if parts.username or parts.password:
            problems.append(f"hosts must not contain credentials; use username and ${PASSWORD_ENV}, or ${API_KEY_ENV}")
    if not re.fullmatch(r"[a-z0-9][a-z0-9_.-]*", s.index or ""):
        problems.append(f"index {s.index!r} must be a lower-case Elasticsearch name")
    if s.index_type not in INDEX_TYPES:
        problems.append(f"index_type {s.index_type!r} is not one of {', '.join(INDEX_TYPES)}")
    if s.search not in SEARCH_MODES:
        problems.append(f"search {s.search!r} is not one of {', '.join(SEARCH_MODES)}")
    if not (1 <= s.k <= 10_000 and 1 <= s.num_candidates <= 10_000):
        problems.append("k and num_candidates must be between 1 and 10000")
    if s.retries < 0 or s.request_timeout <= 0 or s.retry_backoff < 0 or s.bulk_chunk_size < 1:
        problems.append("retries, retry_backoff must be >= 0; request_timeout, bulk_chunk_size > 0")
    if problems:
        raise ConfigError("gallery.elasticsearch: " + "; ".join(problems))


def _client(s: ElasticsearchSettings) -> AsyncElasticsearch:
    """One client per gallery; retries are ours (with backoff), so the transport does not retry."""
    kwargs: dict[str, Any] = {
        "request_timeout": s.request_timeout,
        "max_retries": 0,
        "retry_on_timeout": False,
        "verify_certs": s.verify_certs,
    }
    if s.ca_certs:
        kwargs["ca_certs"] = s.ca_certs
    api_key = os.environ.get(API_KEY_ENV)
    password = os.environ.get(PASSWORD_ENV)
    if api_key:
        kwargs["api_key"] = api_key
    elif s.username:
        if password is None:
            raise ConfigError(f"gallery.elasticsearch.username is set but ${PASSWORD_ENV} is not")
        kwargs["basic_auth"] = (s.username, password)
    return AsyncElasticsearch(list(s.hosts), **kwargs)
