"""The `kaobot` command line, in-process (and once as a real process)."""

import json
import os
import subprocess
import sys

import pytest

from tools.cli import main

from .conftest import ALICE, BELLA, CARLA, png


@pytest.fixture
def files(tmp_path, alice_png, alice_png_2, bella_png, pair_png, blank_png):
    paths = {}
    for name, data in {
        "alice": alice_png,
        "alice2": alice_png_2,
        "bella": bella_png,
        "pair": pair_png,
        "blank": blank_png,
    }.items():
        paths[name] = tmp_path / f"{name}.png"
        paths[name].write_bytes(data)
    return paths


@pytest.fixture
def kaobot(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("KAOBOT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("KAOBOT_CONFIG", raising=False)

    def run(*args: str) -> tuple[int, str, str]:
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_enroll_and_whois_json(kaobot, files):
    assert kaobot("enroll", "Alice", files["alice"])[0] == 0
    assert kaobot("enroll", "Bella", files["bella"], "--series", "Drawn Show")[0] == 0
    code, out, err = kaobot("whois", files["pair"], "--json")
    assert code == 0
    doc = json.loads(out)
    assert set(doc) == {"faces"} and len(doc["faces"]) == 2
    left, right = doc["faces"]
    assert set(left) == {"box", "detection_score", "name", "similarity", "candidates"}
    assert left["name"] == "Alice" and right["name"] == "Bella"
    assert left["box"][0] < right["box"][0]
    assert all(isinstance(v, int) for v in left["box"])
    assert left["candidates"][0] == {"name": "Alice", "similarity": left["similarity"]}
    code, out, _ = kaobot("whois", files["bella"])
    assert out.startswith("1: Bella [Drawn Show] (")


def test_whois_text_and_annotated_output(kaobot, files, tmp_path):
    kaobot("enroll", "Alice", files["alice"])
    out_png = tmp_path / "annotated.png"
    code, out, _ = kaobot("whois", files["pair"], "--out", out_png, "--top-k", "1")
    assert code == 0
    assert out.splitlines()[0].startswith("1: Alice (")
    assert out.splitlines()[1].startswith("2: unknown (closest: Alice")
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_whois_no_face(kaobot, files):
    code, out, _ = kaobot("whois", files["blank"], "--json")
    assert code == 0 and json.loads(out) == {"faces": []}


def test_detect_json(kaobot, files):
    code, out, _ = kaobot("detect", files["pair"], "--json")
    doc = json.loads(out)
    assert code == 0 and len(doc["faces"]) == 2
    assert set(doc["faces"][0]) == {"box", "score"}


def test_enroll_second_face_of_two(kaobot, files):
    code, out, _ = kaobot("enroll", "Bella", files["pair"], "--face", "2")
    assert code == 0 and "face 2 of 2" in out
    code, out, _ = kaobot("whois", files["bella"], "--json")
    assert json.loads(out)["faces"][0]["name"] == "Bella"


@pytest.mark.parametrize(
    ("maker", "message"),
    [
        (lambda p: p.write_bytes(b""), "empty"),
        (lambda p: p.write_text("hello, I am text"), "not a readable image"),
        (lambda p: p.write_bytes(png([(200, 200, 170, ALICE)])[:300]), "corrupt or truncated"),
    ],
)
def test_bad_pictures_give_one_clear_line(kaobot, tmp_path, maker, message):
    path = tmp_path / "bad.png"
    maker(path)
    for command in (["whois", path], ["enroll", "X", path], ["detect", path]):
        code, out, err = kaobot(*command)
        assert code == 1 and out == ""
        assert len(err.strip().splitlines()) == 1 and message in err


def test_errors(kaobot, files, tmp_path):
    code, _, err = kaobot("enroll", "X", files["blank"])
    assert code == 1 and "no face" in err
    code, _, err = kaobot("whois", tmp_path / "missing.png")
    assert code == 1 and "cannot read" in err
    code, _, err = kaobot("forget", "Nobody")
    assert code == 1 and "Nobody" in err
    kaobot("enroll", "Alice", files["alice"])
    code, _, err = kaobot("enroll", "Alice", files["alice"])
    assert code == 1 and "already enrolled" in err


def test_missing_model_file_is_named(kaobot, tmp_path, files):
    config = tmp_path / "config.yaml"
    config.write_text(f"embedder:\n  backend: torch\n  checkpoint: {tmp_path / 'nowhere.pt'}\n")
    code, _, err = kaobot("whois", files["alice"], "--config", config)
    assert code == 1 and "nowhere.pt" in err and len(err.strip().splitlines()) == 1


def test_characters_forget_rename_clear(kaobot, files):
    kaobot("enroll", "Alice", files["alice"], files["alice2"])
    kaobot("enroll", "Bella", files["bella"], "--scope", "guild-2")
    code, out, _ = kaobot("characters", "--json")
    assert json.loads(out) == [{"name": "Alice", "faces": 2, "series": None, "link": None}]
    assert kaobot("rename", "Alice", "初音ミク")[0] == 0
    assert "初音ミク: 2 face(s)" in kaobot("characters")[1]
    assert kaobot("forget", "初音ミク")[0] == 0
    assert "no characters" in kaobot("characters")[1]
    code, _, err = kaobot("clear", "--scope", "guild-2")
    assert code == 1 and "--yes" in err
    assert kaobot("clear", "--scope", "guild-2", "--yes")[0] == 0
    assert json.loads(kaobot("characters", "--json", "--scope", "guild-2")[1]) == []


def test_import_folders_with_fewer_images_than_asked(kaobot, tmp_path):
    root = tmp_path / "people"
    styles = {"c1": ALICE, "c2": BELLA, "c3": CARLA}
    counts = {"c1": 3, "c2": 1, "c3": 2}
    for folder, n in counts.items():
        (root / folder).mkdir(parents=True)
        for i in range(n):
            data = png([(200 + 10 * i, 200, 150 + 10 * i, styles[folder])], background=(235 - 20 * i, 235, 235))
            (root / folder / f"{i}.png").write_bytes(data)
    (root / "c3" / "broken.png").write_text("nope")
    (root / "c3" / "blank.png").write_bytes(png([]))
    (root / "notes.txt").write_text("not a folder")
    names = tmp_path / "names.tsv"
    names.write_text("c1\tAlice\nc2\tBella\n")
    code, out, _ = kaobot("import", root, "--per-identity", "2", "--names", names, "--quiet")
    assert code == 0
    assert out.startswith("3 character(s), 5 image(s): ")  # 2 of c1's 3, c2's only one, 2 of c3's 4 files
    chars = {c["name"]: c["faces"] for c in json.loads(kaobot("characters", "--json")[1])}
    assert chars["Alice"] == 2 and chars["Bella"] == 1
    enrolled = sum(chars.values())
    assert f"{enrolled} face(s) enrolled" in out
    if enrolled < 5:
        assert "without a face" in out or "unreadable" in out
    # A re-run stores nothing twice.
    code, out, _ = kaobot("import", root, "--per-identity", "2", "--names", names, "--quiet")
    assert "0 face(s) enrolled" in out and "already enrolled" in out


def test_stale_model_notice(kaobot, files, tmp_path):
    import asyncio

    import numpy as np

    from recognition.gallery import FaceRecord
    from recognition.gallery.sqlite import SQLiteGallery

    async def seed():
        async with SQLiteGallery(tmp_path / "data" / "gallery.sqlite3") as g:
            await g.add([FaceRecord("global", "Old", "old-model", np.ones(4, np.float32), "h", (0, 0, 1, 1))])

    asyncio.run(seed())
    code, _, err = kaobot("whois", files["alice"])
    assert code == 0 and "old-model" in err and "kaobot gallery reembed" in err


def test_unknown_config_key(kaobot, tmp_path, files):
    config = tmp_path / "c.yaml"
    config.write_text("detector:\n  treshold: 0.3\n")
    code, _, err = kaobot("detect", files["alice"], "--config", config)
    assert code == 1 and "detector.treshold" in err


def test_console_script_runs_as_a_process(tmp_path, files):
    env = dict(os.environ, KAOBOT_DATA_DIR=str(tmp_path / "d"))
    done = subprocess.run(
        [sys.executable, "-m", "tools.cli", "detect", str(files["alice"]), "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)["faces"]) == 1
