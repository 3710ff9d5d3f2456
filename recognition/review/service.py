"""`ReviewDesk`: members suggest names for faces kaobot got wrong, admins approve or reject.

The one service the bot, the CLI (`kaobot review`) and a web page call. It wraps the `Recognizer`
(approving enrols through `Recognizer.enroll_face`, the path of every enrolment) and a
`ReviewQueue` (the durable store, one module per gallery backend). Who may approve is the
adapter's check (the bot's admin guard, the CLI's shell access, a web page's token); nothing here
enrols unless `approve` is called or `review.auto_approve_votes` different members agree.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from ..config import ReviewSettings
from ..errors import DuplicateEnrollment, NoSuchSuggestion, ReviewError, ReviewLimit
from ..faces import Box
from ..gallery import Candidate, FaceRecord, clean_name
from ..service import Identification, Recognizer, face_crop
from .base import APPROVED, EXPIRED, PENDING, REJECTED, Decision, ReviewQueue, Suggestion

log = logging.getLogger(__name__)

DAY = 86400.0


@dataclass(frozen=True)
class FaceEvidence:
    """What a suggestion about one face of an answer needs, kept with the answer (no picture)."""

    number: int
    box: Box
    vector: np.ndarray
    crop: bytes
    source_hash: str
    model_id: str
    answer: str | None  # kaobot's name for it (None: unknown)

    def suggestion(self, scope: str, name: str, suggester: str, message_link: str | None, created: float) -> Suggestion:
        """This face as a queue record: a member's suggestion, or (name and suggester "-") a kept unknown."""
        return Suggestion(
            scope=scope,
            name=name,
            suggester=suggester,
            model_id=self.model_id,
            vector=self.vector,
            crop=self.crop,
            source_hash=self.source_hash,
            box=self.box,
            message_link=message_link,
            answer=self.answer,
            created=created,
        )


@dataclass(frozen=True)
class ReviewItem:
    """A suggestion as an admin sees it: with the gallery's current best match for the face."""

    suggestion: Suggestion
    best: Candidate | None
    stale: bool  # its vector is of another embedder: approval re-embeds the stored crop
    votes: int  # different members who suggested this name for this face


@dataclass(frozen=True)
class UnknownCluster:
    """Faces answered "unknown" that look alike: "this face came back `size` times: who is it?"."""

    id: str  # the id of its oldest face (stable while that face is kept)
    faces: list[Suggestion]  # oldest first
    representative: Suggestion  # the face closest to the cluster's mean (shown to the admin)
    best: Candidate | None  # the gallery's closest character to the mean now (below the threshold)

    @property
    def size(self) -> int:
        return len(self.faces)


def cluster_vectors(vectors: np.ndarray, threshold: float) -> np.ndarray:
    """Cluster labels: agglomerative clustering on cosine distance, average linkage, merging while the
    average distance is within `1 - threshold` (the similarity at which kaobot names a face)."""
    if len(vectors) < 2:
        return np.zeros(len(vectors), dtype=int)
    from sklearn.cluster import AgglomerativeClustering

    model = AgglomerativeClustering(
        n_clusters=None, metric="cosine", linkage="average", distance_threshold=max(1e-6, 1.0 - threshold)
    )
    return model.fit_predict(np.asarray(vectors, np.float32))


class ReviewDesk:
    """Suggest, list, approve, reject; see the module docstring."""

    def __init__(
        self,
        recognizer: Recognizer,
        queue: ReviewQueue,
        settings: ReviewSettings | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.recognizer = recognizer
        self.queue = queue
        self.settings = settings or ReviewSettings()
        self.clock = clock
        self._decide_lock = asyncio.Lock()  # one decision at a time: "approve" and "approve as" never both enrol

    # -- what an answer keeps -------------------------------------------------------------------
    async def evidence(self, identification: Identification) -> list[FaceEvidence]:
        """Crops and vectors of every face of an answer, so that a member can correct it later
        (the answer keeps them instead of the picture)."""
        result = identification
        if not result.faces:
            return []
        if result.vectors is None or result.source_hash is None:
            raise ValueError("this answer carries no face vectors (use Recognizer.identify or identify_analysis)")

        def build() -> list[FaceEvidence]:
            return [
                FaceEvidence(
                    number=face.number,
                    box=face.box,
                    vector=np.asarray(result.vectors[face.number - 1], np.float32),
                    crop=face_crop(result.image, face.box),
                    source_hash=result.source_hash,
                    model_id=self.recognizer.model_id,
                    answer=face.name,
                )
                for face in result.faces
            ]

        return await asyncio.get_running_loop().run_in_executor(self.recognizer.executor, build)

    # -- members --------------------------------------------------------------------------------
    async def suggest(
        self, scope: str, face: FaceEvidence, name: str, suggester: str, message_link: str | None = None
    ) -> Suggestion:
        """Queue "this face is `name`". Refused when the member made `review.member_limit`
        suggestions within `review.member_window_minutes`, when the scope holds
        `review.max_pending` pending ones, or when `name` is what kaobot already answered.
        With `review.auto_approve_votes`, enough different members agreeing approve it."""
        scope, suggester, name = str(scope), str(suggester), clean_name(name)
        if face.answer is not None and face.answer.casefold() == name.casefold():
            raise ReviewError(f"kaobot already answered {face.answer!r} for face {face.number}")
        now = self.clock()
        await self.expire(scope)
        s = face.suggestion(scope, name, suggester, message_link, now)
        existing = await self.queue.get(scope, s.id)
        if existing is not None and existing.status in (PENDING, APPROVED):
            return existing  # the same member said the same thing again: one suggestion
        if existing is not None and existing.status == REJECTED:
            raise ReviewError(f"an admin already rejected {name!r} for this face")
        window = self.settings.member_window_minutes * 60.0
        made = await self.queue.count_by(scope, suggester, now - window)
        if made >= self.settings.member_limit:
            raise ReviewLimit(
                f"you can suggest {self.settings.member_limit} name(s) per {self.settings.member_window_minutes:g} "
                "minutes; try again later"
            )
        if await self.queue.count_pending(scope) >= self.settings.max_pending:
            raise ReviewLimit(
                f"{self.settings.max_pending} suggestions are already waiting for an admin here; "
                "try again once some are decided"
            )
        if existing is not None:  # decided before (e.g. expired); a new suggestion replaces it
            await self.queue.delete(scope, s.id)
        stored = await self.queue.add(s)
        log.info("suggestion %s in scope %s: %r by %s", stored.id, scope, name, suggester)
        votes = self.settings.auto_approve_votes
        if votes:
            agreeing = {x.suggester for x in await self.queue.for_face(scope, s.source_hash, s.box) if x.name == name}
            if len(agreeing) >= votes:
                decision = await self.approve(scope, stored.id, f"auto:{len(agreeing)} votes")
                return decision.suggestion
        return stored

    # -- admins ---------------------------------------------------------------------------------
    async def pending(self, scope: str, limit: int = 25) -> list[ReviewItem]:
        """Pending suggestions, oldest first, each with the gallery's current best match."""
        scope = str(scope)
        await self.expire(scope)
        items = await self.queue.pending(scope, limit)
        return [await self._item(s) for s in items]

    async def item(self, scope: str, sid: str) -> ReviewItem:
        return await self._item(await self._get(str(scope), sid))

    async def next_item(
        self, scope: str, skip: set[str] | frozenset[str] = frozenset()
    ) -> tuple[ReviewItem | None, int]:
        """The oldest pending suggestion whose id is not in `skip` (as a `ReviewItem`), and how many
        such suggestions are pending (one page at a time, as /review shows them)."""
        scope = str(scope)
        await self.expire(scope)
        waiting = [
            s for s in await self.queue.pending(scope, self.settings.max_pending + len(skip)) if s.id not in skip
        ]
        return (await self._item(waiting[0]) if waiting else None), len(waiting)

    async def approve(self, scope: str, sid: str, by: str, as_name: str | None = None) -> Decision:
        """Enrol the suggested face as its name (or `as_name`) and record who approved it.
        Idempotent: a suggestion already decided is not enrolled again (`changed` False). The
        other pending suggestions about the same face are decided with it (approved when they
        named the same character, else rejected)."""
        scope = str(scope)
        async with self._decide_lock:
            s = await self._get(scope, sid)
            if s.status != PENDING:
                return Decision(s, False)
            if self._expired(s):
                await self.queue.decide(scope, s.id, EXPIRED, "expiry")
                raise ReviewError(f"suggestion {s.id} expired (older than {self.settings.expire_days:g} days)")
            name = clean_name(as_name) if as_name else s.name
            vector = await self._current_vector(s)
            try:
                fid: str | None = await self.recognizer.enroll_face(name, scope, vector, s.source_hash, s.box, s.crop)
            except DuplicateEnrollment:
                fid = None  # that picture is already enrolled for this character: nothing more to store
            decision = await self.queue.decide(scope, s.id, APPROVED, by, enrolled_as=name, face_id=fid)
            for other in await self.queue.for_face(scope, s.source_hash, s.box):
                agrees = other.name.casefold() == name.casefold()
                await self.queue.decide(
                    scope,
                    other.id,
                    APPROVED if agrees else REJECTED,
                    by,
                    enrolled_as=name if agrees else None,
                    face_id=fid,
                )
        log.info("suggestion %s approved as %r by %s in scope %s", s.id, name, by, scope)
        return decision

    async def reject(self, scope: str, sid: str, by: str) -> Decision:
        """Drop a suggestion without enrolling it (idempotent, as `approve`)."""
        async with self._decide_lock:
            s = await self._get(str(scope), sid)
            return await self.queue.decide(s.scope, s.id, REJECTED, by)

    async def expire(self, scope: str | None = None) -> int:
        """Mark pending suggestions older than `review.expire_days` expired."""
        return await self.queue.expire(self.clock() - self.settings.expire_days * DAY, scope)

    # -- unknowns worth enrolling (opt-in per scope) ----------------------------------------------
    def keeps_unknowns(self, scope: str) -> bool:
        """Whether `review.unknowns` names this scope (or "*")."""
        scopes = {str(x) for x in self.settings.unknowns}
        return "*" in scopes or str(scope) in scopes

    async def note_unknowns(self, scope: str, faces: list[FaceEvidence], message_link: str | None = None) -> int:
        """Keep the faces of an answer that kaobot called "unknown" (only where the scope opted in),
        then apply the retention limits; returns how many were kept."""
        scope = str(scope)
        if not self.keeps_unknowns(scope):
            return 0
        kept = 0
        now = self.clock()
        for face in faces:
            if face.answer is not None:
                continue
            await self.queue.add_unknown(face.suggestion(scope, "-", "-", message_link, now))
            kept += 1
        if kept:
            await self.prune_unknowns(scope)
        return kept

    async def prune_unknowns(self, scope: str) -> int:
        """Drop kept unknown faces older than `review.unknowns_days`, then the oldest beyond
        `review.unknowns_max`; returns how many were dropped."""
        faces = await self.queue.unknowns(str(scope))
        cutoff = self.clock() - self.settings.unknowns_days * DAY
        old = [s for s in faces if s.created < cutoff]
        young = [s for s in faces if s.created >= cutoff]
        drop = old + young[: max(0, len(young) - max(0, self.settings.unknowns_max))]
        for s in drop:
            await self.queue.delete(s.scope, s.id)
        return len(drop)

    async def unknown_clusters(self, scope: str, min_count: int | None = None) -> list[UnknownCluster]:
        """Clusters of kept unknown faces with at least `min_count` (default `review.unknowns_min_count`)
        faces, largest first. Faces the gallery now recognises (at or above the threshold, e.g. since
        their character was enrolled) are dropped first: they are no longer unknown."""
        scope = str(scope)
        await self.prune_unknowns(scope)
        faces = await self.queue.unknowns(scope)
        if not faces:
            return []
        for i, s in enumerate(faces):
            if s.stale(self.recognizer.model_id):  # made with an earlier embedder: re-embed its crop once, keep that
                vector = await self._current_vector(s)
                await self.queue.delete(scope, s.id)
                faces[i] = await self.queue.add_unknown(replace(s, vector=vector, model_id=self.recognizer.model_id))
        vectors = np.stack([s.vector for s in faces])
        threshold = self.recognizer.threshold
        hits = await self.recognizer.gallery.search(vectors, scope, self.recognizer.model_id, 1)
        known = [bool(h) and h[0].similarity >= threshold for h in hits]
        for s, is_known in zip(faces, known):
            if is_known:
                await self.queue.delete(scope, s.id)
        keep = [i for i, is_known in enumerate(known) if not is_known]
        faces, vectors = [faces[i] for i in keep], vectors[keep]
        labels = cluster_vectors(vectors, threshold)
        need = self.settings.unknowns_min_count if min_count is None else min_count
        clusters = []
        for label in sorted(set(labels.tolist())):
            idx = np.flatnonzero(labels == label)
            if len(idx) < max(1, need):
                continue
            mean = vectors[idx].mean(axis=0)
            mean = mean / max(float(np.linalg.norm(mean)), 1e-12)
            rep = int(idx[np.argmax(vectors[idx] @ mean)])
            (best,) = await self.recognizer.gallery.search(mean, scope, self.recognizer.model_id, 1)
            members = [faces[i] for i in idx]  # `faces` is oldest first
            clusters.append(UnknownCluster(members[0].id, members, faces[rep], best[0] if best else None))
        return sorted(clusters, key=lambda c: (-c.size, c.faces[0].created))

    async def unknown_cluster(self, scope: str, cluster_id: str) -> UnknownCluster:
        """The cluster (of any size) holding the kept unknown face `cluster_id`."""
        cid = str(cluster_id).strip().lower()
        for c in await self.unknown_clusters(scope, min_count=1):
            if any(s.id == cid for s in c.faces):
                return c
        raise NoSuchSuggestion(f"no unknown face {str(cluster_id).strip()!r} here")

    async def name_unknowns(self, scope: str, cluster_id: str, name: str, by: str) -> list[Decision]:
        """An admin's answer to "who is it?": every face of the cluster becomes a suggestion of `name`
        approved by `by`, enrolled through `approve` (the path of every approval)."""
        scope, name = str(scope), clean_name(name)
        cluster = await self.unknown_cluster(scope, cluster_id)
        decisions = []
        for face in cluster.faces:
            s = await self.queue.add(
                Suggestion(
                    scope=scope,
                    name=name,
                    suggester=f"unknowns:{cluster.id}",
                    model_id=face.model_id,
                    vector=face.vector,
                    crop=face.crop,
                    source_hash=face.source_hash,
                    box=face.box,
                    message_link=face.message_link,
                    created=self.clock(),
                )  # fmt: skip
            )
            decisions.append(await self.approve(scope, s.id, by))
            await self.queue.delete(scope, face.id)
        log.info("%d unknown face(s) of cluster %s named %r by %s in scope %s", len(decisions), cluster.id, name, by,
                 scope)  # fmt: skip
        return decisions

    async def dismiss_unknowns(self, scope: str, cluster_id: str) -> int:
        """Forget a cluster's kept faces without enrolling them ("not a character"); returns how many."""
        cluster = await self.unknown_cluster(scope, cluster_id)
        for face in cluster.faces:
            await self.queue.delete(str(scope), face.id)
        return cluster.size

    # -- helpers --------------------------------------------------------------------------------
    def _expired(self, s: Suggestion) -> bool:
        return s.created < self.clock() - self.settings.expire_days * DAY

    async def _get(self, scope: str, sid: str) -> Suggestion:
        s = await self.queue.get(scope, sid)
        if s is None:
            raise NoSuchSuggestion(f"no suggestion {str(sid).strip()!r} here")
        return s

    async def _current_vector(self, s: Suggestion) -> np.ndarray:
        """The suggestion's vector, re-embedded from its crop when the embedder changed since."""
        if not s.stale(self.recognizer.model_id):
            return s.vector
        from ..maintenance import reembed_crop

        record = FaceRecord(s.scope, s.name, s.model_id, s.vector, s.source_hash, s.box, s.crop)
        return await asyncio.get_running_loop().run_in_executor(
            self.recognizer.executor, reembed_crop, self.recognizer.embedder, record
        )

    async def _item(self, s: Suggestion) -> ReviewItem:
        stale = s.stale(self.recognizer.model_id)
        best = None
        if s.status == PENDING:
            vector = await self._current_vector(s)
            (hits,) = await self.recognizer.gallery.search(vector, s.scope, self.recognizer.model_id, 1)
            best = hits[0] if hits else None
        same = await self.queue.for_face(s.scope, s.source_hash, s.box)
        votes = len({x.suggester for x in same if x.name == s.name}) if s.status == PENDING else 0
        return ReviewItem(s, best, stale, votes)


def suggestion_to_json(s: Suggestion, model_id: str | None = None) -> dict:
    """A suggestion without its vector and crop (`kaobot review list --json`, a web page)."""
    return {
        "id": s.id,
        "scope": s.scope,
        "name": s.name,
        "answer": s.answer,
        "suggester": s.suggester,
        "message_link": s.message_link,
        "created": s.created,
        "status": s.status,
        "stale": None if model_id is None else s.stale(model_id),
        "decided_by": s.decided_by,
        "decided_at": s.decided_at,
        "enrolled_as": s.enrolled_as,
        "face_id": s.face_id,
        "box": list(s.box),
    }
