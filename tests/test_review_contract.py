"""The review queue's contract, run against every backend (SQLite and Elasticsearch)."""

import numpy as np
import pytest

from recognition.review import APPROVED, EXPIRED, PENDING, REJECTED, ReviewQueue, Suggestion
from recognition.review.sqlite import SQLiteReviewQueue

from .gallery_backends import BACKEND_PARAMS, es_settings


def _sqlite(request, tmp_path):
    path = tmp_path / "review.sqlite3"
    return lambda: SQLiteReviewQueue(path)


def _elasticsearch(request, tmp_path):
    from recognition.gallery.elastic import ElasticsearchGallery
    from recognition.review.elastic import ElasticsearchReviewQueue

    settings = es_settings(request.getfixturevalue("es_server").url)
    return lambda: ElasticsearchReviewQueue(ElasticsearchGallery(settings))


QUEUES = {"sqlite": _sqlite, "elasticsearch": _elasticsearch}


@pytest.fixture(params=BACKEND_PARAMS)
def opener(request, tmp_path):
    """Opens a queue on one backend's storage (twice: the same storage)."""
    return QUEUES[request.param](request, tmp_path)


@pytest.fixture
async def queue(opener) -> ReviewQueue:
    q = opener()
    yield q
    await q.close()


def sug(name="Ann", suggester="u1", scope="g1", source="pic1", box=(0, 0, 10, 10), created=1000.0, model="m1"):
    return Suggestion(
        scope=scope,
        name=name,
        suggester=suggester,
        model_id=model,
        vector=np.arange(1, 9, dtype=np.float32),
        crop=b"\xff\xd8jpeg",
        source_hash=source,
        box=box,
        message_link="https://discord.com/channels/1/2/3",
        answer="Bob",
        created=created,
    )


async def test_add_get_and_round_trip(queue):
    stored = await queue.add(sug())
    got = await queue.get("g1", stored.id)
    assert got is not None and got.id == stored.id
    assert (got.name, got.suggester, got.model_id, got.source_hash, got.box) == (
        "Ann",
        "u1",
        "m1",
        "pic1",
        (0, 0, 10, 10),
    )
    assert got.crop == b"\xff\xd8jpeg" and got.answer == "Bob" and got.status == PENDING
    assert got.message_link == "https://discord.com/channels/1/2/3"
    assert got.created == pytest.approx(1000.0, abs=1e-3)
    assert np.linalg.norm(got.vector) == pytest.approx(1.0, abs=1e-5)  # stored normalised
    assert np.allclose(got.vector, np.arange(1, 9) / np.linalg.norm(np.arange(1, 9)), atol=1e-6)


async def test_the_same_suggestion_twice_is_stored_once(queue):
    first = await queue.add(sug(created=1000.0))
    again = await queue.add(sug(created=2000.0))
    assert again.id == first.id and again.created == pytest.approx(1000.0, abs=1e-3)
    assert await queue.count_pending("g1") == 1
    await queue.add(sug(suggester="u2"))  # another member: another suggestion
    assert await queue.count_pending("g1") == 2


async def test_scopes_never_see_each_other(queue):
    a = await queue.add(sug(scope="g1"))
    await queue.add(sug(scope="g2", suggester="u9"))
    assert [s.scope for s in await queue.pending("g1")] == ["g1"]
    assert await queue.get("g2", a.id) is None
    assert await queue.count_pending("g2") == 1
    with pytest.raises(KeyError):
        await queue.decide("g2", a.id, APPROVED, "admin")
    assert (await queue.get("g1", a.id)).status == PENDING
    assert await queue.drop_name("g2", "Ann") == 1
    assert await queue.count_pending("g1") == 1
    assert await queue.clear("g2") == 0
    assert await queue.count_pending("g1") == 1


async def test_pending_is_oldest_first_and_limited(queue):
    for i, t in enumerate([3000.0, 1000.0, 2000.0]):
        await queue.add(sug(suggester=f"u{i}", created=t))
    listed = await queue.pending("g1")
    assert [s.created for s in listed] == pytest.approx([1000.0, 2000.0, 3000.0], abs=1e-3)
    assert len(await queue.pending("g1", limit=2)) == 2
    assert await queue.pending("g1", limit=0) == []


async def test_decide_changes_a_pending_suggestion_once(queue):
    s = await queue.add(sug())
    first = await queue.decide("g1", s.id, APPROVED, "admin1", enrolled_as="Ann", face_id="f1", at=5000.0)
    assert first.changed and first.suggestion.status == APPROVED
    assert (first.suggestion.decided_by, first.suggestion.enrolled_as, first.suggestion.face_id) == (
        "admin1",
        "Ann",
        "f1",
    )
    assert first.suggestion.decided_at == pytest.approx(5000.0, abs=1e-3)
    second = await queue.decide("g1", s.id, REJECTED, "admin2")
    assert not second.changed and second.suggestion.status == APPROVED and second.suggestion.decided_by == "admin1"
    assert await queue.count_pending("g1") == 0
    assert [h.id for h in await queue.history("g1")] == [s.id]


async def test_drop_name_deletes_only_pending_suggestions_of_that_character(queue):
    a = await queue.add(sug(name="Ann"))
    b = await queue.add(sug(name="Ann", suggester="u2"))
    c = await queue.add(sug(name="Cid", suggester="u3"))
    await queue.decide("g1", b.id, APPROVED, "admin")
    assert await queue.drop_name("g1", "  Ann ") == 1
    assert await queue.get("g1", a.id) is None
    assert (await queue.get("g1", b.id)).status == APPROVED  # history is kept
    assert (await queue.get("g1", c.id)).status == PENDING


async def test_rename_moves_pending_suggestions(queue):
    await queue.add(sug(name="Ann"))
    assert await queue.rename("g1", "Ann", "Anna") == 1
    assert [s.name for s in await queue.pending("g1")] == ["Anna"]


async def test_member_counts_and_faces(queue):
    await queue.add(sug(suggester="u1", created=1000.0))
    await queue.add(sug(suggester="u1", name="Cid", created=2000.0))
    await queue.add(sug(suggester="u2", created=2000.0))
    await queue.add(sug(suggester="u1", source="pic2", created=3000.0))
    assert await queue.count_by("g1", "u1", since=0) == 3
    assert await queue.count_by("g1", "u1", since=1500.0) == 2
    assert await queue.count_by("g2", "u1", since=0) == 0
    face = await queue.for_face("g1", "pic1", (0, 0, 10, 10))
    assert sorted((s.suggester, s.name) for s in face) == [("u1", "Ann"), ("u1", "Cid"), ("u2", "Ann")]
    assert await queue.for_face("g1", "pic1", (1, 0, 10, 10)) == []


async def test_expire_marks_old_pending_suggestions(queue):
    old = await queue.add(sug(created=1000.0))
    new = await queue.add(sug(suggester="u2", created=9000.0))
    assert await queue.expire(before=5000.0, scope="g1") == 1
    assert (await queue.get("g1", old.id)).status == EXPIRED
    assert (await queue.get("g1", new.id)).status == PENDING
    assert await queue.expire(before=5000.0) == 0


async def test_durable_across_reopening(opener):
    q = opener()
    s = await q.add(sug())
    await q.decide("g1", s.id, APPROVED, "admin", enrolled_as="Ann")
    await q.close()
    q = opener()
    try:
        got = await q.get("g1", s.id)
        assert (got.name, got.status, got.decided_by) == ("Ann", APPROVED, "admin")
    finally:
        await q.close()


# -- unknowns worth enrolling: faces answered "unknown", kept per scope ------------------------------
async def test_unknown_faces_are_kept_apart_from_suggestions(queue):
    from recognition.review import UNKNOWN

    a = await queue.add_unknown(sug(source="u1", created=10.0))
    again = await queue.add_unknown(sug(source="u1", created=20.0))  # the same face again: kept once
    b = await queue.add_unknown(sug(source="u2", created=30.0, scope="g2"))
    assert again.id == a.id and a.status == UNKNOWN
    assert [s.id for s in await queue.unknowns("g1")] == [a.id]  # scopes stay apart
    assert [s.id for s in await queue.unknowns("g2")] == [b.id]
    assert await queue.pending("g1") == [] and await queue.history("g1") == []
    assert await queue.count_pending("g1") == 0
    got = await queue.get("g1", a.id)
    assert got is not None and got.crop == b"\xff\xd8jpeg" and got.created == 10.0
    assert np.allclose(np.linalg.norm(got.vector), 1.0)
    await queue.delete("g1", a.id)
    assert await queue.unknowns("g1") == []
    assert await queue.clear("g2") == 1 and await queue.unknowns("g2") == []


async def test_unknowns_in_the_desk_on_every_backend(recognizer, opener, alice_png, bella_png):
    """Keep, cluster and name unknown faces through this backend's queue (the gallery is SQLite)."""
    from recognition.config import ReviewSettings
    from recognition.review.service import ReviewDesk

    q = opener()
    try:
        desk = ReviewDesk(recognizer, q, ReviewSettings(unknowns=["g"], unknowns_min_count=2))
        ident = await recognizer.identify(bella_png, "g")
        (face,) = await desk.evidence(ident)
        assert face.answer is None  # an empty gallery: unknown
        from dataclasses import replace

        for i in range(3):  # the same face in three posts
            await desk.note_unknowns("g", [replace(face, source_hash=f"post{i}")])
        assert await desk.note_unknowns("other", [face]) == 0  # not opted in
        (cluster,) = await desk.unknown_clusters("g")
        assert cluster.size == 3
        decisions = await desk.name_unknowns("g", cluster.id, "Bella", by="admin")
        assert [d.suggestion.enrolled_as for d in decisions] == ["Bella"] * 3
        assert await recognizer.gallery.count("g") == 3
        assert await q.unknowns("g") == [] and await desk.unknown_clusters("g") == []
        assert {s.decided_by for s in await q.history("g")} == {"admin"}
    finally:
        await q.close()
