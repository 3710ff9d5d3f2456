"""`ReviewDesk` end to end with the real recognizer (shipped models, SQLite gallery and queue)."""

import dataclasses

import numpy as np
import pytest

from recognition.config import ReviewSettings
from recognition.errors import ReviewError
from recognition.gallery import FaceRecord
from recognition.maintenance import reembed_crop
from recognition.review import APPROVED, EXPIRED, PENDING, REJECTED
from recognition.review.service import ReviewDesk, suggestion_to_json

from .conftest import CARLA, png

DAY = 86400.0


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def desk(recognizer, clock):
    return ReviewDesk(recognizer, recognizer.review_queue, ReviewSettings(), clock=clock)


async def answer(recognizer, desk, data, scope="g"):
    identification = await recognizer.identify(data, scope)
    return identification, await desk.evidence(identification)


async def test_a_suggestion_enrols_nothing_until_an_admin_approves(recognizer, desk, alice_png, bella_png):
    await recognizer.enroll("Alice", alice_png, "g")
    ident, (face,) = await answer(recognizer, desk, bella_png)
    assert face.answer == ident.faces[0].name and face.crop[:2] == b"\xff\xd8"
    s = await desk.suggest("g", face, "Bella", suggester="member-1", message_link="https://discord.com/channels/1/2/3")
    assert s.status == PENDING and s.answer == face.answer
    assert await recognizer.gallery.count("g") == 1  # a suggestion alone never enrols
    (item,) = await desk.pending("g")
    assert item.suggestion.id == s.id and item.best is not None and item.best.name == "Alice" and not item.stale

    decision = await desk.approve("g", s.id, by="admin-7")
    assert decision.changed and decision.suggestion.status == APPROVED
    assert decision.suggestion.decided_by == "admin-7" and decision.suggestion.enrolled_as == "Bella"
    assert await recognizer.gallery.count("g") == 2
    (again,) = (await recognizer.identify(bella_png, "g")).faces
    assert again.name == "Bella"
    assert await desk.pending("g") == []


async def test_approve_is_idempotent(recognizer, desk, bella_png):
    _, (face,) = await answer(recognizer, desk, bella_png)
    s = await desk.suggest("g", face, "Bella", "member-1")
    first = await desk.approve("g", s.id, "admin-1")
    second = await desk.approve("g", s.id, "admin-2")
    third = await desk.approve("g", s.id, "admin-2", as_name="Somebody else")
    assert first.changed and not second.changed and not third.changed
    assert second.suggestion.decided_by == "admin-1"
    assert [(c.name, c.faces) for c in await recognizer.characters("g")] == [("Bella", 1)]
    assert (await desk.reject("g", s.id, "admin-3")).suggestion.status == APPROVED


async def test_approve_as_another_name_and_reject(recognizer, desk, alice_png, bella_png):
    _, (a,) = await answer(recognizer, desk, alice_png)
    _, (b,) = await answer(recognizer, desk, bella_png)
    sa = await desk.suggest("g", a, "Alise", "member-1")
    sb = await desk.suggest("g", b, "Alice", "member-2")
    approved = await desk.approve("g", sa.id, "admin", as_name="Alice")
    assert approved.suggestion.enrolled_as == "Alice" and approved.suggestion.name == "Alise"
    rejected = await desk.reject("g", sb.id, "admin")
    assert rejected.changed and rejected.suggestion.status == REJECTED
    assert [(c.name, c.faces) for c in await recognizer.characters("g")] == [("Alice", 1)]


async def test_other_suggestions_for_the_same_face_are_decided_with_it(recognizer, desk, bella_png):
    _, (face,) = await answer(recognizer, desk, bella_png)
    right = await desk.suggest("g", face, "Bella", "m1")
    same = await desk.suggest("g", face, "Bella", "m2")
    wrong = await desk.suggest("g", face, "Carla", "m3")
    await desk.approve("g", right.id, "admin")
    assert (await desk.queue.get("g", same.id)).status == APPROVED
    assert (await desk.queue.get("g", wrong.id)).status == REJECTED
    assert await recognizer.gallery.count("g") == 1


async def test_scopes_stay_apart(recognizer, desk, bella_png):
    _, (face,) = await answer(recognizer, desk, bella_png, scope="guild-A")
    s = await desk.suggest("guild-A", face, "Bella", "m1")
    assert await desk.pending("guild-B") == []
    with pytest.raises(ReviewError, match="no suggestion"):
        await desk.approve("guild-B", s.id, "admin-of-B")
    with pytest.raises(ReviewError):
        await desk.reject("guild-B", s.id, "admin-of-B")
    assert await recognizer.gallery.count() == 0
    await desk.approve("guild-A", s.id, "admin-of-A")
    assert await recognizer.gallery.count("guild-A") == 1 and await recognizer.gallery.count("guild-B") == 0


async def test_member_rate_limit(recognizer, desk, clock, alice_png, bella_png, pair_png):
    desk.settings = ReviewSettings(member_limit=2, member_window_minutes=10)
    faces = [f for data in (alice_png, bella_png, pair_png) for f in (await answer(recognizer, desk, data))[1]]
    await desk.suggest("g", faces[0], "A", "m1")
    await desk.suggest("g", faces[1], "B", "m1")
    assert (await desk.suggest("g", faces[1], "B", "m1")).name == "B"  # the same one again is no new suggestion
    with pytest.raises(ReviewError, match="2 name"):
        await desk.suggest("g", faces[2], "C", "m1")
    await desk.suggest("g", faces[2], "C", "m2")  # another member is not limited by m1
    await desk.suggest("other", faces[2], "C", "m1")  # nor is m1 in another server
    clock.now += 11 * 60
    await desk.suggest("g", faces[3], "D", "m1")


async def test_pending_cap_per_scope(recognizer, desk, alice_png, bella_png, pair_png):
    desk.settings = ReviewSettings(max_pending=2)
    faces = [f for data in (alice_png, bella_png, pair_png) for f in (await answer(recognizer, desk, data))[1]]
    a = await desk.suggest("g", faces[0], "A", "m1")
    await desk.suggest("g", faces[1], "B", "m2")
    with pytest.raises(ReviewError, match="already waiting"):
        await desk.suggest("g", faces[2], "C", "m3")
    await desk.suggest("other", faces[2], "C", "m3")  # the cap is per scope
    await desk.reject("g", a.id, "admin")
    await desk.suggest("g", faces[2], "C", "m3")  # room again


async def test_expiry(recognizer, desk, clock, alice_png, bella_png):
    desk.settings = ReviewSettings(expire_days=2)
    _, (a,) = await answer(recognizer, desk, alice_png)
    _, (b,) = await answer(recognizer, desk, bella_png)
    old = await desk.suggest("g", a, "Alice", "m1")
    clock.now += 1.5 * DAY
    young = await desk.suggest("g", b, "Bella", "m2")
    clock.now += 1 * DAY
    assert [i.suggestion.id for i in await desk.pending("g")] == [young.id]
    assert (await desk.queue.get("g", old.id)).status == EXPIRED
    assert not (await desk.approve("g", old.id, "admin")).changed
    assert await recognizer.gallery.count("g") == 0
    # the same member may make an expired suggestion again, not a rejected one
    assert (await desk.suggest("g", a, "Alice", "m1")).status == PENDING
    await desk.reject("g", young.id, "admin")
    with pytest.raises(ReviewError, match="already rejected"):
        await desk.suggest("g", b, "Bella", "m2")


async def test_next_item_pages_through_the_queue(recognizer, desk, clock, alice_png, bella_png):
    _, (a,) = await answer(recognizer, desk, alice_png)
    _, (b,) = await answer(recognizer, desk, bella_png)
    first = await desk.suggest("g", a, "Alice", "m1")
    clock.now += 60
    second = await desk.suggest("g", b, "Bella", "m1")
    item, waiting = await desk.next_item("g")
    assert item.suggestion.id == first.id and waiting == 2
    item, waiting = await desk.next_item("g", {first.id})
    assert item.suggestion.id == second.id and waiting == 1
    assert await desk.next_item("g", {first.id, second.id}) == (None, 0)


async def test_approval_of_a_suggestion_that_expired_unnoticed_is_refused(recognizer, desk, clock, bella_png):
    desk.settings = ReviewSettings(expire_days=1)
    _, (face,) = await answer(recognizer, desk, bella_png)
    s = await desk.suggest("g", face, "Bella", "m1")
    clock.now += 2 * DAY
    with pytest.raises(ReviewError, match="expired"):
        await desk.approve("g", s.id, "admin")
    assert await recognizer.gallery.count("g") == 0


async def test_forgetting_a_character_drops_its_pending_suggestions(recognizer, desk, alice_png, alice_png_2):
    await recognizer.enroll("Alice", alice_png, "g")
    _, (face,) = await answer(recognizer, desk, png([(200, 200, 170, CARLA)]))
    await desk.suggest("g", face, "Alice", "m1")
    _, (other,) = await answer(recognizer, desk, alice_png_2)
    keep = await desk.suggest("g", other, "Alicia", "m1")
    await recognizer.forget("Alice", "g")
    assert [i.suggestion.id for i in await desk.pending("g")] == [keep.id]
    assert suggestion_to_json(keep, recognizer.model_id)["stale"] is False


async def test_renaming_a_character_renames_its_pending_suggestions(recognizer, desk, alice_png, alice_png_2):
    await recognizer.enroll("Alice", alice_png, "g")
    _, (face,) = await answer(recognizer, desk, png([(200, 200, 170, CARLA)]))
    await desk.suggest("g", face, "Alice", "m1")
    await recognizer.rename("Alice", "Alice Liddell", "g")
    assert [i.suggestion.name for i in await desk.pending("g")] == ["Alice Liddell"]


async def test_a_stale_suggestion_is_re_embedded_from_its_crop(recognizer, desk, bella_png):
    _, (face,) = await answer(recognizer, desk, bella_png)
    garbage = np.random.default_rng(0).normal(size=face.vector.size).astype(np.float32)
    old = dataclasses.replace(face, model_id="an-older-model", vector=garbage)
    s = await desk.suggest("g", old, "Bella", "m1")
    (item,) = await desk.pending("g")
    assert item.stale and suggestion_to_json(item.suggestion, recognizer.model_id)["stale"] is True
    await desk.approve("g", s.id, "admin")
    (stored,) = [r async for batch in recognizer.gallery.records("g") for r in batch]
    assert stored.model_id == recognizer.model_id
    expected = reembed_crop(recognizer.embedder, FaceRecord("g", "Bella", "x", garbage, s.source_hash, s.box, s.crop))
    assert np.allclose(stored.vector, expected / np.linalg.norm(expected), atol=1e-5)
    assert float(stored.vector @ face.vector) > 0.9  # close to the vector of the original picture
    (again,) = (await recognizer.identify(bella_png, "g")).faces
    assert again.name == "Bella"


async def test_suggesting_what_kaobot_already_said_is_refused(recognizer, desk, alice_png, alice_png_2):
    await recognizer.enroll("Alice", alice_png, "g")
    _, (face,) = await answer(recognizer, desk, alice_png_2)
    assert face.answer == "Alice"
    with pytest.raises(ReviewError, match="already answered"):
        await desk.suggest("g", face, " alice ", "m1")


async def test_auto_approve_is_off_by_default_and_needs_distinct_members(recognizer, desk, bella_png):
    _, (face,) = await answer(recognizer, desk, bella_png)
    for member in ("m1", "m2", "m3"):
        await desk.suggest("g", face, "Bella", member)
    assert await recognizer.gallery.count("g") == 0  # off by default
    desk.settings = ReviewSettings(auto_approve_votes=2)
    _, (face2,) = await answer(recognizer, desk, png([(210, 190, 150, CARLA)]), scope="h")
    first = await desk.suggest("h", face2, "Carla", "m1")
    assert first.status == PENDING
    assert (await desk.suggest("h", face2, "Carla", "m1")).status == PENDING  # the same member twice is one vote
    second = await desk.suggest("h", face2, "Carla", "m2")
    assert second.status == APPROVED and second.decided_by == "auto:2 votes"
    assert [(c.name, c.faces) for c in await recognizer.characters("h")] == [("Carla", 1)]


# -- unknowns worth enrolling ------------------------------------------------------------------------
def unknowns_desk(recognizer, clock, **settings):
    return ReviewDesk(recognizer, recognizer.review_queue, ReviewSettings(unknowns=["g"], **settings), clock=clock)


async def post(desk, recognizer, data, n, scope="g", tag="post"):
    """The same picture posted `n` times (as `n` different posts), each answer noted."""
    _, faces = await answer(recognizer, desk, data, scope)
    for i in range(n):
        await desk.note_unknowns(scope, [dataclasses.replace(f, source_hash=f"{tag}{i}") for f in faces])


async def test_unknowns_are_off_by_default(recognizer, desk, bella_png):
    assert desk.settings.unknowns == [] and not desk.keeps_unknowns("g")
    await post(desk, recognizer, bella_png, 3)
    assert await recognizer.review_queue.unknowns("g") == []


async def test_unknown_faces_cluster_by_character_and_only_big_clusters_show(recognizer, clock, alice_png, bella_png):
    desk = unknowns_desk(recognizer, clock, unknowns_min_count=3)
    await post(desk, recognizer, bella_png, 4, tag="b")
    await post(desk, recognizer, alice_png, 2, tag="a")
    (cluster,) = await desk.unknown_clusters("g")  # Alice came back twice only: below the minimum
    assert cluster.size == 4 and {s.source_hash for s in cluster.faces} == {"b0", "b1", "b2", "b3"}
    assert cluster.representative.crop[:2] == b"\xff\xd8" and cluster.best is None
    sizes = sorted(c.size for c in await desk.unknown_clusters("g", min_count=1))
    assert sizes == [2, 4]
    assert await desk.unknown_clusters("other") == []  # scopes stay apart


async def test_naming_a_cluster_enrols_every_face_through_approve(recognizer, clock, alice_png, bella_png):
    desk = unknowns_desk(recognizer, clock, unknowns_min_count=2)
    await recognizer.enroll("Alice", alice_png, "g")
    await post(desk, recognizer, bella_png, 3)
    (cluster,) = await desk.unknown_clusters("g")
    decisions = await desk.name_unknowns("g", cluster.faces[-1].id, "Bella", by="admin-7")  # any face's id names it
    assert len(decisions) == 3 and all(d.changed for d in decisions)
    assert {d.suggestion.decided_by for d in decisions} == {"admin-7"}
    assert await recognizer.gallery.count("g") == 4
    (again,) = (await recognizer.identify(bella_png, "g")).faces
    assert again.name == "Bella"
    assert await recognizer.review_queue.unknowns("g") == []
    with pytest.raises(ReviewError):
        await desk.name_unknowns("g", cluster.id, "Bella", by="admin-7")  # gone: nothing enrolled twice


async def test_faces_the_gallery_now_knows_leave_the_unknowns(recognizer, clock, bella_png):
    desk = unknowns_desk(recognizer, clock, unknowns_min_count=1)
    await post(desk, recognizer, bella_png, 2)
    await recognizer.enroll("Bella", bella_png, "g")  # enrolled another way (/enroll)
    assert await desk.unknown_clusters("g") == []
    assert await recognizer.review_queue.unknowns("g") == []


async def test_dismissing_a_cluster_forgets_its_faces(recognizer, clock, bella_png):
    desk = unknowns_desk(recognizer, clock, unknowns_min_count=1)
    await post(desk, recognizer, bella_png, 2)
    (cluster,) = await desk.unknown_clusters("g")
    assert await desk.dismiss_unknowns("g", cluster.id) == 2
    assert await recognizer.gallery.count("g") == 0 and await desk.unknown_clusters("g") == []


async def test_unknowns_retention_by_count_and_age(recognizer, clock, bella_png):
    desk = unknowns_desk(recognizer, clock, unknowns_min_count=1, unknowns_max=3, unknowns_days=2)
    for i in range(5):
        await post(desk, recognizer, bella_png, 1, tag=f"p{i}-")
        clock.now += 10
    kept = await recognizer.review_queue.unknowns("g")
    assert [s.source_hash for s in kept] == ["p2-0", "p3-0", "p4-0"]  # the oldest went first
    clock.now += 2 * DAY + 1
    assert await desk.unknown_clusters("g") == []  # older than unknowns_days
    assert await recognizer.review_queue.unknowns("g") == []


async def test_clearing_a_scope_clears_its_unknowns(recognizer, clock, bella_png):
    desk = unknowns_desk(recognizer, clock)
    await post(desk, recognizer, bella_png, 2)
    await recognizer.review_queue.clear("g")
    assert await recognizer.review_queue.unknowns("g") == []


async def test_unknown_faces_of_an_earlier_embedder_are_re_embedded_once(recognizer, clock, bella_png):
    desk = unknowns_desk(recognizer, clock, unknowns_min_count=1)
    _, (face,) = await answer(recognizer, desk, bella_png)
    old = dataclasses.replace(face, model_id="old-model", vector=np.ones_like(face.vector))
    await desk.note_unknowns("g", [old, dataclasses.replace(face, source_hash="again")])
    (cluster,) = await desk.unknown_clusters("g")  # the re-embedded face joins the current one
    assert cluster.size == 2
    kept = await recognizer.review_queue.unknowns("g")
    assert {s.model_id for s in kept} == {recognizer.model_id}
    assert float(kept[0].vector @ kept[1].vector) >= recognizer.threshold  # from the crop: close, not equal
