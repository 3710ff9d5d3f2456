"""Corrections through the web API (issue 16): anyone suggests, only the token holder decides."""

from __future__ import annotations

import aiohttp
import pytest

from recognition import Recognizer
from recognition.config import ReviewSettings
from recognition.review.service import ReviewDesk
from recognition.review.sqlite import SQLiteReviewQueue
from web import create_app
from web.answers import AnswerStore

from .conftest import SCOPE, TOKEN, example, make_recognizer


def picture(data: bytes) -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("image", data, filename="p.png", content_type="image/png")
    return form


@pytest.fixture
async def reviewed(models, tmp_path) -> Recognizer:
    """A recognizer with a SQLite review queue, as `kaobot web` builds it."""
    rec = make_recognizer(models, tmp_path / "gallery.sqlite3")
    rec.review_queue = SQLiteReviewQueue(tmp_path / "review.sqlite3")
    yield rec
    await rec.close()


def desk_for(rec: Recognizer, **settings) -> ReviewDesk:
    return ReviewDesk(rec, rec.review_queue, ReviewSettings(**settings))


@pytest.fixture
async def app_client(aiohttp_client, reviewed):
    """A factory of clients over the shared recognizer: one app per (scope, desk settings)."""

    async def make(scope: str = SCOPE, answers: AnswerStore | None = None, **settings):
        app = create_app(reviewed, scope=scope, token=TOKEN, review=desk_for(reviewed, **settings), answers=answers)
        return await aiohttp_client(app)

    return make


@pytest.fixture
async def api(app_client):
    return await app_client()


async def enrol(client, auth, name: str, picture_name: str) -> None:
    form = picture(example(picture_name))
    form.add_field("name", name)
    assert (await client.post("/api/enroll", data=form, headers=auth)).status == 201


async def whois(client, picture_name: str = "bella.png") -> dict:
    resp = await client.post("/api/whois", data=picture(example(picture_name)))
    assert resp.status == 200
    return await resp.json()


async def suggest(client, answer: str, name: str, face: int = 1):
    return await client.post("/api/suggestions", json={"answer": answer, "face": face, "name": name})


async def names(client) -> dict[str, int]:
    body = await (await client.get("/api/characters")).json()
    return {c["name"]: c["faces"] for c in body["characters"]}


async def test_whois_gives_an_answer_id_only_with_faces_and_corrections_on(api, aiohttp_client, reviewed):
    body = await whois(api, "pair.png")
    assert isinstance(body["answer"], str) and len(body["answer"]) >= 16 and len(body["faces"]) == 2
    assert (await (await api.get("/api/health")).json())["suggestions"] is True
    from tests.conftest import png

    blank = await api.post("/api/whois", data=picture(png([], size=(300, 200))))
    assert "answer" not in await blank.json()
    plain = await aiohttp_client(create_app(reviewed, scope=SCOPE, token=TOKEN))  # no desk
    assert "answer" not in await whois(plain)
    assert (await (await plain.get("/api/health")).json())["suggestions"] is False
    off = await suggest(plain, body["answer"], "Bella")
    assert off.status == 404 and "corrections are off" in (await off.json())["error"]


async def test_a_suggestion_needs_no_token_and_enrols_nothing(api, auth):
    await enrol(api, auth, "Alice", "alice.png")
    body = await whois(api, "bella.png")
    resp = await suggest(api, body["answer"], "Bella")
    assert resp.status == 201
    made = await resp.json()
    assert made["name"] == "Bella" and made["status"] == "pending" and made["face"] == 1
    assert made["answer"] == body["faces"][0]["name"]
    assert await names(api) == {"Alice": 1}  # nothing enrolled by a suggestion

    # The queue is the token holder's: listing, crops and decisions need the token.
    for method, path in [
        ("GET", "/api/suggestions"),
        ("GET", f"/api/suggestions/{made['id']}/crop"),
        ("POST", f"/api/suggestions/{made['id']}/approve"),
        ("POST", f"/api/suggestions/{made['id']}/reject"),
    ]:
        assert (await api.request(method, path)).status == 401, path
        wrong = await api.request(method, path, headers={"Authorization": "Bearer nope"})
        assert wrong.status == 403 and (await wrong.json())["error"] == "the web token is wrong"
    assert await names(api) == {"Alice": 1}

    listed = await (await api.get("/api/suggestions", headers=auth)).json()
    assert listed["pending"] == 1
    (item,) = listed["suggestions"]
    assert item["id"] == made["id"] and item["name"] == "Bella" and item["suggester"].startswith("web:")
    assert item["best"]["name"] == "Alice" and 0 < item["best"]["similarity"] <= 1 and item["votes"] == 1
    assert "vector" not in item and item["crop"] == f"/api/suggestions/{made['id']}/crop"
    crop = await api.get(item["crop"], headers=auth)
    assert crop.status == 200 and crop.content_type == "image/jpeg" and (await crop.read())[:2] == b"\xff\xd8"


async def test_approve_enrols_once_and_the_face_is_then_recognised(api, auth):
    await enrol(api, auth, "Alice", "alice.png")
    answer = (await whois(api, "bella.png"))["answer"]
    sid = (await (await suggest(api, answer, "Bella")).json())["id"]
    first = await api.post(f"/api/suggestions/{sid}/approve", headers=auth)
    assert first.status == 200
    body = await first.json()
    assert body["changed"] is True and body["suggestion"]["status"] == "approved"
    assert body["suggestion"]["decided_by"] == "web" and body["suggestion"]["enrolled_as"] == "Bella"
    assert await names(api) == {"Alice": 1, "Bella": 1}
    again = await api.post(f"/api/suggestions/{sid}/approve", headers=auth)
    assert again.status == 200 and (await again.json())["changed"] is False
    assert await names(api) == {"Alice": 1, "Bella": 1}  # approving twice enrols once
    assert (await whois(api, "bella.png"))["faces"][0]["name"] == "Bella"
    assert (await (await api.get("/api/suggestions", headers=auth)).json()) == {"pending": 0, "suggestions": []}


async def test_approve_as_another_name(api, auth):
    answer = (await whois(api, "bella.png"))["answer"]
    sid = (await (await suggest(api, answer, "Bela")).json())["id"]
    bad = await api.post(f"/api/suggestions/{sid}/approve", json={"name": "  "}, headers=auth)
    assert bad.status == 400
    resp = await api.post(f"/api/suggestions/{sid}/approve", json={"name": "Bella"}, headers=auth)
    assert resp.status == 200 and (await resp.json())["suggestion"]["enrolled_as"] == "Bella"
    assert await names(api) == {"Bella": 1}


async def test_reject_enrols_nothing_and_stays_rejected(api, auth):
    answer = (await whois(api, "bella.png"))["answer"]
    sid = (await (await suggest(api, answer, "Bella")).json())["id"]
    resp = await api.post(f"/api/suggestions/{sid}/reject", headers=auth)
    assert resp.status == 200
    body = await resp.json()
    assert body["changed"] is True and body["suggestion"]["status"] == "rejected"
    late = await api.post(f"/api/suggestions/{sid}/approve", headers=auth)
    assert late.status == 200 and (await late.json())["changed"] is False
    assert await names(api) == {}
    again = await suggest(api, answer, "Bella")  # the same visitor, the same name: already refused
    assert again.status == 409 and "already rejected" in (await again.json())["error"]


async def test_scopes_stay_apart(app_client, auth):
    shared = AnswerStore()  # even sharing one store of answers, a scope never sees another's
    one, two = await app_client("server-one", answers=shared), await app_client("server-two", answers=shared)
    answer = (await whois(one, "bella.png"))["answer"]
    other = await suggest(two, answer, "Bella")
    assert other.status == 410
    sid = (await (await suggest(one, answer, "Bella")).json())["id"]
    assert (await (await two.get("/api/suggestions", headers=auth)).json())["pending"] == 0
    for path in (f"/api/suggestions/{sid}/approve", f"/api/suggestions/{sid}/reject"):
        resp = await two.post(path, headers=auth)
        assert resp.status == 404 and "no suggestion" in (await resp.json())["error"]
    assert (await two.get(f"/api/suggestions/{sid}/crop", headers=auth)).status == 404
    assert (await (await one.get("/api/suggestions", headers=auth)).json())["pending"] == 1
    assert await names(one) == {} and await names(two) == {}


async def test_the_rate_limit_and_the_cap_answer_429(app_client, auth):
    limited = await app_client("limited", member_limit=2)
    answer = (await whois(limited, "pair.png"))["answer"]
    assert (await suggest(limited, answer, "Ann", face=1)).status == 201
    assert (await suggest(limited, answer, "Bea", face=2)).status == 201
    third = await suggest(limited, answer, "Cid", face=2)
    assert third.status == 429 and "2 name(s) per 60 minutes" in (await third.json())["error"]

    capped = await app_client("capped", max_pending=1)
    answer = (await whois(capped, "pair.png"))["answer"]
    assert (await suggest(capped, answer, "Ann", face=1)).status == 201
    full = await suggest(capped, answer, "Bea", face=2)
    assert full.status == 429 and "already waiting" in (await full.json())["error"]
    assert (await (await capped.get("/api/suggestions", headers=auth)).json())["pending"] == 1


async def test_bad_suggestions_are_refused(api, auth):
    await enrol(api, auth, "Alice", "alice.png")
    body = await whois(api, "alice.png")
    answer = body["answer"]
    assert body["faces"][0]["name"] == "Alice"
    cases = [
        ({"answer": answer, "face": 1, "name": "Alice"}, 409, "already answered"),  # what kaobot said
        ({"answer": answer, "face": 2, "name": "Bella"}, 400, "no face 2"),
        ({"answer": answer, "face": "1", "name": "Bella"}, 400, "face number"),
        ({"answer": answer, "face": 1}, 400, "`name`"),
        ({"answer": "not-an-answer", "face": 1, "name": "Bella"}, 410, "recognise the picture again"),
        ({"face": 1, "name": "Bella"}, 400, "`answer`"),
    ]
    for payload, status, message in cases:
        resp = await api.post("/api/suggestions", json=payload)
        assert resp.status == status, payload
        assert message in (await resp.json())["error"], payload
    for raw in (b"[1, 2]", b"not json", b"x" * 5000):
        resp = await api.post("/api/suggestions", data=raw, headers={"Content-Type": "application/json"})
        assert resp.status in {400, 413} and "error" in await resp.json()
    assert (await (await api.get("/api/suggestions", headers=auth)).json())["pending"] == 0


async def test_answers_expire_and_are_bounded(app_client):
    class Clock:
        now = 0.0

        def __call__(self) -> float:
            return self.now

    clock = Clock()
    store = AnswerStore(ttl_s=60, max_answers=2, clock=clock)
    api = await app_client(answers=store)
    first = (await whois(api, "bella.png"))["answer"]
    clock.now = 61
    assert (await suggest(api, first, "Bella")).status == 410  # expired
    kept = [(await whois(api, "bella.png"))["answer"] for _ in range(3)]
    assert len(store) == 2
    assert (await suggest(api, kept[0], "Bella")).status == 410  # the oldest made room
    assert (await suggest(api, kept[2], "Bella")).status == 201


def test_the_answer_store_is_bounded_by_bytes_and_keeps_scopes_apart():
    import numpy as np

    from recognition.review.service import FaceEvidence

    def faces(n: int) -> list[FaceEvidence]:
        vector = np.zeros(64, np.float32)
        return [FaceEvidence(i, (0, 0, 10, 10), vector, b"\xff" * 1000, "hash", "model", None) for i in range(1, n + 1)]

    store = AnswerStore(max_bytes=2 * (1000 + 256))
    old = store.put("a", faces(2))
    new = store.put("a", faces(1))
    assert store.faces("a", old) is None and store.face("a", new, 1) is not None  # 2 faces' bytes at most
    assert store.face("a", new, 2) is None and store.face("b", new, 1) is None


async def test_unknown_faces_are_clustered_and_named_by_the_token_holder(app_client, auth):
    api = await app_client(unknowns=[SCOPE], unknowns_min_count=3)
    for i in range(3):  # the same unknown face in three pictures (a byte apart)
        assert (await api.post("/api/whois", data=picture(example("bella.png") + bytes([i])))).status == 200
    assert (await api.get("/api/unknowns")).status == 401
    body = await (await api.get("/api/unknowns", headers=auth)).json()
    assert body["kept"] is True and body["min_count"] == 3
    (cluster,) = body["clusters"]
    assert cluster["size"] == 3 and cluster["best"] is None
    crop = await api.get(cluster["crop"], headers=auth)
    assert crop.status == 200 and (await crop.read())[:2] == b"\xff\xd8"
    assert (await api.post(f"/api/unknowns/{cluster['id']}/name", json={"name": "Bella"})).status == 401
    named = await api.post(f"/api/unknowns/{cluster['id']}/name", json={"name": "Bella"}, headers=auth)
    assert named.status == 200 and await named.json() == {"enrolled": 3, "name": "Bella"}
    assert await names(api) == {"Bella": 3}
    assert (await (await api.get("/api/unknowns", headers=auth)).json())["clusters"] == []
    gone = await api.post(f"/api/unknowns/{cluster['id']}/dismiss", headers=auth)
    assert gone.status == 404


async def test_unknown_faces_are_not_kept_unless_the_scope_opted_in(api, auth):
    for i in range(3):
        await api.post("/api/whois", data=picture(example("bella.png") + bytes([i])))
    body = await (await api.get("/api/unknowns", headers=auth)).json()
    assert body == {"kept": False, "min_count": 3, "clusters": []}
