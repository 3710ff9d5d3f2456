"""`kaobot eval online`: the replay protocol on vectors made to need corrections, then the command
end to end on drawn pictures with the shipped models."""

import asyncio
import json
import random

import numpy as np
import pytest

from recognition.faces import Face
from recognition.pipeline import Analysis
from recognition.review.service import FaceEvidence
from tools.make_examples import ALICE, BELLA, CARLA
from training.drawing import draw_scene
from training.online_eval import Picture, draw_unknown, replay, rolling

DIM = 8


class Model:
    """Only what the replay asks of a detector or embedder: an id (vectors are given)."""

    model_id = "test-vectors"
    dim = DIM


def picture(label: str, *values: float, n: int = 0) -> Picture:
    v = np.zeros(DIM, np.float32)
    v[: len(values)] = values
    v /= np.linalg.norm(v)
    face = Face((0, 0, 10, 10), 1.0)
    source = f"{label}-{n}-{values}"
    evidence = FaceEvidence(1, face.box, v, b"\xff\xd8crop", source, Model.model_id, None)
    return Picture(label, Analysis(np.zeros((1, 1, 3), np.uint8), source, [face], v[None]), evidence)


def test_replay_corrects_wrong_answers_and_learns_from_them(tmp_path):
    enrolled = [picture("A", 1, 0), picture("B", 0, 1)]
    # A's probes lie near (0, 0, 1): unknown to the initial gallery, known after one correction.
    probes = [picture("A", 0.1, 0, 1, n=i) for i in range(6)] + [picture("B", 0, 1, 0.05, n=i) for i in range(4)]
    report = asyncio.run(replay(enrolled, probes, Model(), Model(), threshold=0.8, seed=3, workdir=tmp_path))
    assert report["static_rank1"] == pytest.approx(0.4)  # only B's probes
    assert report["corrections"] == 1 and report["gallery_growth"] == 1
    assert report["gallery_initial"] == 2 and report["gallery_final"] == 3
    assert report["online_rank1"] == pytest.approx(0.9)
    first_a = next(i for i, p in enumerate(report["stream"]["static"]) if not p)
    assert report["stream"]["online"][first_a] is False and sum(report["stream"]["online"]) == 9
    half = report["stream"]["online"][5:]
    assert report["online_rank1_second_half"] == pytest.approx(np.mean(half))
    assert report["errors"]["static"] == 6 and report["probes"] == 10 and report["characters"] == 2


def test_the_stream_order_is_seeded(tmp_path):
    enrolled = [picture("A", 1, 0), picture("B", 0, 1)]
    probes = [picture("A", 1, 0.1 * i, n=i) for i in range(5)] + [picture("B", 0.1 * i, 1, n=i) for i in range(5)]
    runs = [asyncio.run(replay(enrolled, probes, Model(), Model(), 0.5, seed=s, workdir=tmp_path)) for s in (1, 1, 2)]
    assert runs[0]["stream"] == runs[1]["stream"]
    assert runs[0]["static_rank1"] == runs[2]["static_rank1"] == 1.0


def test_strangers_are_never_corrected_and_corrections_can_make_them_look_known(tmp_path):
    enrolled = [picture("A", 1, 0), picture("B", 0, 1)]
    # A's probes lie near (0.6, 0, 0.8): unknown at first (0.6 < 0.8), then corrected and enrolled;
    # stranger C lies next to them, so once an A probe is enrolled C is named A; D is never near anything.
    probes = [picture("A", 0.6, 0, 0.8, n=i) for i in range(3)] + [picture("B", 0, 1, 0.05, n=i) for i in range(3)]
    strangers = [picture("C", 0.55, 0, 0.83, n=i) for i in range(3)] + [picture("D", 0, 0, 0, 1)]
    report = asyncio.run(replay(enrolled, probes, Model(), Model(), 0.8, seed=5, workdir=tmp_path, strangers=strangers))
    assert report["probes"] == 6 and report["characters"] == 2 and report["unknown_posts"] == 4
    assert report["corrections"] == report["gallery_growth"] == 1  # the first A post; strangers never
    assert report["unknown_rejected_static"] == 1.0
    order = probes + strangers
    random.Random(5).shuffle(order)  # the replay's order
    first_a = next(i for i, p in enumerate(order) if p.label == "A")
    at = [i for i, p in enumerate(order) if p.label in ("C", "D")]  # the strangers' places in the stream
    rejected = [order[i].label == "D" or i < first_a for i in at]
    assert report["unknown_rejected_online"] == pytest.approx(np.mean(rejected)) and np.mean(rejected) < 1.0
    second = [r for r, i in zip(rejected, at) if i >= len(order) // 2]
    assert report["unknown_rejected_second_half"] == pytest.approx(np.mean(second))
    with pytest.raises(ValueError, match="enrolled"):
        asyncio.run(replay(enrolled, probes, Model(), Model(), 0.8, workdir=tmp_path, strangers=[picture("A", 1, 0)]))


def test_unknown_characters_are_drawn_by_seed():
    labels = ["a", "b", "c", "d", "a"]
    assert draw_unknown(labels, 0.0, 0) == set()
    assert draw_unknown(labels, 0.5, 3) == draw_unknown(labels, 0.5, 3) and len(draw_unknown(labels, 0.5, 3)) == 2
    with pytest.raises(ValueError, match="unknown fraction"):
        draw_unknown(labels, 1.0, 0)


def test_rolling_mean():
    assert rolling([True, False, True, True], 2).tolist() == [1.0, 0.5, 0.5, 1.0]


def test_eval_online_command(tmp_path, capsys):
    from recognition.images import encode_png
    from tools.cli import main

    for part, shifts in (("gallery", [0, 10]), ("probes", [20, 30, 40])):
        for name, style in (("alice", ALICE), ("bella", BELLA), ("carla", CARLA)):
            folder = tmp_path / part / name
            folder.mkdir(parents=True)
            for i, shift in enumerate(shifts):
                scene = draw_scene([(200 + shift, 200 - shift // 2, 150 + shift, style)], size=(420, 400))
                (folder / f"{i}.png").write_bytes(encode_png(scene))
    out, plot = tmp_path / "online.json", tmp_path / "online.png"
    code = main(["eval", "online", "--gallery", str(tmp_path / "gallery"), "--probes", str(tmp_path / "probes"),
                 "--shots", "1", "--seed", "0", "--json", str(out), "--plot", str(plot), "--quiet",
                 "--data-dir", str(tmp_path / "data")])  # fmt: skip
    assert code == 0
    report = json.loads(out.read_text())
    assert json.loads(capsys.readouterr().out) == report
    for key in ("static_rank1", "online_rank1", "online_rank1_second_half", "corrections", "gallery_growth"):
        assert key in report
    assert report["probes"] == 9 and report["characters"] == 3 and report["gallery_initial"] == 3
    assert report["gallery_growth"] == report["corrections"] == 9 - round(report["online_rank1"] * 9)  # one per error
    assert "stream" not in report
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "unknown_rejected_online" not in report
    # one of the three characters never enrolled: its 3 posts are strangers
    code = main(["eval", "online", "--gallery", str(tmp_path / "gallery"), "--probes", str(tmp_path / "probes"),
                 "--unknown-fraction", "0.34", "--quiet", "--data-dir", str(tmp_path / "data")])  # fmt: skip
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["probes"] == 6 and report["characters"] == 2 and report["gallery_initial"] == 2
    assert report["unknown_characters"] == 1 and report["unknown_posts"] == 3
    assert 0.0 <= report["unknown_rejected_online"] <= 1.0
