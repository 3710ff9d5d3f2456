"""`kaobot review list | approve | reject` on a queue filled through the service."""

import asyncio
import json

import pytest

from recognition import build_recognizer, load_settings
from recognition.review.service import ReviewDesk
from tools.cli import main


@pytest.fixture
def kaobot(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("KAOBOT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("KAOBOT_CONFIG", raising=False)

    def run(*args: str) -> tuple[int, str, str]:
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def suggest(pictures: list[tuple[bytes, str, str]], scope: str = "global") -> list[str]:
    """Suggestions as the bot makes them: (picture, suggested name, member) each."""

    async def run() -> list[str]:
        recognizer = build_recognizer(load_settings())
        async with recognizer:
            desk = ReviewDesk(recognizer, recognizer.review_queue)
            ids = []
            for data, name, member in pictures:
                (face,) = await desk.evidence(await recognizer.identify(data, scope))
                ids.append((await desk.suggest(scope, face, name, member, "https://discord.com/channels/1/2/3")).id)
            return ids

    return asyncio.run(run())


def test_list_approve_reject(kaobot, tmp_path, alice_png, bella_png):
    code, out, _ = kaobot("review", "list")
    assert code == 0 and "no pending suggestions" in out
    a, b = suggest([(alice_png, "Alise", "member-1"), (bella_png, "Bella", "member-2")])
    code, out, _ = kaobot("review", "list")
    assert code == 0 and a in out and b in out and "'Alise' by member-1" in out and "kaobot said unknown" in out
    code, out, _ = kaobot("review", "list", "--json", "--crops", tmp_path / "crops")
    rows = json.loads(out)
    assert [r["id"] for r in rows] == [a, b] and rows[0]["status"] == "pending" and rows[0]["stale"] is False
    assert (tmp_path / "crops" / f"{a}.jpg").read_bytes()[:2] == b"\xff\xd8"

    code, out, _ = kaobot("review", "approve", a, "--as", "Alice")
    assert code == 0 and "enrolled the face as 'Alice'" in out
    code, out, _ = kaobot("review", "approve", a)
    assert code == 0 and "already approved" in out
    code, out, _ = kaobot("review", "reject", b)
    assert code == 0 and out.startswith(f"rejected {b}")
    code, out, _ = kaobot("characters", "--json")
    assert [(c["name"], c["faces"]) for c in json.loads(out)] == [("Alice", 1)]
    code, out, _ = kaobot("review", "list", "--all")
    assert "approved as 'Alice' by cli:" in out and f"{b}  'Bella' by member-2: rejected" in out
    assert kaobot("clear", "--scope", "global", "--yes")[0] == 0  # a cleared scope loses its suggestions too
    code, out, _ = kaobot("review", "list", "--all", "--json")
    assert json.loads(out) == []


def test_unknown_id_and_other_scope(kaobot, bella_png):
    (sid,) = suggest([(bella_png, "Bella", "m")], scope="123")
    code, _, err = kaobot("review", "approve", sid)  # default scope: global
    assert code == 1 and "no suggestion" in err
    code, _, err = kaobot("review", "reject", "nope", "--scope", "123")
    assert code == 1 and "no suggestion 'nope'" in err
    assert kaobot("review", "approve", sid, "--scope", "123")[0] == 0


def keep_unknowns(data: bytes, posts: int, scope: str = "global") -> None:
    """`posts` answers of the same unknown face, kept as the bot keeps them (the scope opted in)."""
    from dataclasses import replace

    from recognition.config import ReviewSettings

    async def run() -> None:
        recognizer = build_recognizer(load_settings())
        async with recognizer:
            desk = ReviewDesk(recognizer, recognizer.review_queue, ReviewSettings(unknowns=[scope]))
            faces = await desk.evidence(await recognizer.identify(data, scope))
            for i in range(posts):
                await desk.note_unknowns(scope, [replace(f, source_hash=f"post{i}") for f in faces])

    asyncio.run(run())


def test_unknowns_name_and_dismiss(kaobot, tmp_path, alice_png, bella_png):
    code, out, _ = kaobot("review", "unknowns")
    assert code == 0 and "no unknown faces seen 3+ times" in out
    keep_unknowns(bella_png, 3)
    keep_unknowns(alice_png, 2)
    code, out, _ = kaobot("review", "unknowns", "--json", "--crops", tmp_path / "u")
    (row,) = json.loads(out)  # Alice's two are below review.unknowns_min_count (3)
    assert row["size"] == 3 and len(row["faces"]) == 3
    assert len(list((tmp_path / "u" / row["id"]).glob("*.jpg"))) == 3
    code, out, _ = kaobot("review", "unknowns", "--min", "2")
    assert code == 0 and "came back 3 times" in out and "came back 2 times" in out
    code, out, _ = kaobot("review", "name", row["id"], "Bella")
    assert code == 0 and "enrolled 3 face(s) as 'Bella'" in out
    code, out, _ = kaobot("characters", "--json")
    assert [(c["name"], c["faces"]) for c in json.loads(out)] == [("Bella", 3)]
    (alice,) = json.loads(kaobot("review", "unknowns", "--min", "1", "--json")[1])
    code, out, _ = kaobot("review", "dismiss", alice["id"])
    assert code == 0 and "forgot 2 unknown face(s)" in out
    code, out, _ = kaobot("review", "name", alice["id"], "Alice")
    assert code != 0
