"""`kaobot data anime-id-views` and `kaobot eval recognition --embedder` (several embedders, one run)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from recognition.embed.baseline import BaselineEmbedder
from tools.cli import main
from tools.eval_cli import parse_embedder_spec

pytestmark = pytest.mark.slow  # data conversion and evaluation runs

CSV = "source,character,images,origin_repo,origin_path,split\n"


def _fake_anime_id(root: Path, characters: dict[str, tuple[str, int]]) -> Path:
    """A folder shaped like anime-id: `<source>__<character>/` of JPEG crops plus characters.csv."""
    rng = np.random.default_rng(0)
    rows = [CSV]
    for name, (split, n) in characters.items():
        folder = root / f"src__{name}"
        folder.mkdir(parents=True)
        colour = rng.integers(0, 256, 3)
        for i in range(n):
            img = np.clip(colour + rng.integers(-20, 20, (64, 64, 3)), 0, 255).astype(np.uint8)
            cv2.imwrite(str(folder / f"{i:03d}.jpg"), img)
        rows.append(f"src,{name},{n},x/y,{name}/,{split}\n")
    (root / "characters.csv").write_text("".join(rows))
    return root


def test_views_split_by_characters_csv_with_links_only(tmp_path):
    root = _fake_anime_id(tmp_path / "anime-id", {"a": ("train", 6), "b": ("train", 4), "c": ("heldout", 12),
                                                  "d": ("heldout", 6)})
    out = tmp_path / "views"
    assert main(["data", "anime-id-views", "--root", str(root), "--out", str(out)]) == 0
    assert sorted(p.name for p in (out / "train").iterdir()) == ["src__a", "src__b"]
    assert sorted(p.name for p in (out / "heldout/gallery").iterdir()) == ["src__c", "src__d"]
    files = [p for p in out.rglob("*.jpg")]
    assert files and all(p.is_symlink() and p.resolve().parent.parent == root.resolve() for p in files)
    for name, total in (("src__c", 12), ("src__d", 6)):
        gallery = {p.name for p in (out / "heldout/gallery" / name).iterdir()}
        probes = {p.name for p in (out / "heldout/probes" / name).iterdir()}
        assert not gallery & probes and len(gallery | probes) == total
        assert len(gallery) == (6 if total == 12 else 5) and probes
    report = json.loads((out / "views.json").read_text())
    assert report["images"] == {"train": 10, "gallery": 11, "probes": 7}
    # Rebuilding gives the same split (seeded), and never touches the data.
    before = sorted(p.name for p in (out / "heldout/gallery/src__c").iterdir())
    assert main(["data", "anime-id-views", "--root", str(root), "--out", str(out)]) == 0
    assert sorted(p.name for p in (out / "heldout/gallery/src__c").iterdir()) == before
    assert len(list(root.rglob("*.jpg"))) == 28


def test_embedder_spec():
    assert parse_embedder_spec("baseline") == ("baseline", None, None)
    assert parse_embedder_spec("torch:models/e.pt@0.41") == ("torch", "models/e.pt", 0.41)


def test_eval_recognition_compares_embedders_on_the_same_pictures(tmp_path, capsys):
    root = _fake_anime_id(tmp_path / "anime-id", {c: ("heldout", 8) for c in "abcd"})
    out = tmp_path / "views"
    assert main(["data", "anime-id-views", "--root", str(root), "--out", str(out)]) == 0
    config = tmp_path / "k.yaml"
    config.write_text(f"data_dir: {tmp_path / 'data'}\n")
    capsys.readouterr()
    assert main(["eval", "recognition", "--gallery", str(out / "heldout/gallery"), "--probes",
                 str(out / "heldout/probes"), "--embedder", "baseline", "--embedder", "baseline@0.9",
                 "--shots", "1", "--seeds", "1", "--quiet", "--config", str(config)]) == 0
    report = json.loads(capsys.readouterr().out)
    first, second = report["embedders"]
    assert first["embedder"] == second["embedder"] and first["closed_set"] == second["closed_set"]
    assert first["open_set"]["1-shot"]["at_configured_threshold"]["threshold"] == BaselineEmbedder.threshold
    assert second["open_set"]["1-shot"]["at_configured_threshold"]["threshold"] == 0.9
    assert first["probe_images"] == 12 and first["closed_set"]["1-shot"]["characters"] == 4


def test_eval_recognition_runs_several_sets_in_one_run(tmp_path, capsys):
    """`--gallery A --probes A' --gallery B --probes B'`: one report per set, every embedder on each."""
    first = _fake_anime_id(tmp_path / "one", {c: ("heldout", 8) for c in "abc"})
    second = _fake_anime_id(tmp_path / "two", {c: ("heldout", 6) for c in "wxyz"})
    for root in (first, second):
        assert main(["data", "anime-id-views", "--root", str(root), "--out", str(root / "views")]) == 0
    config = tmp_path / "k.yaml"
    config.write_text(f"data_dir: {tmp_path / 'data'}\n")
    capsys.readouterr()
    views = [str(r / "views/heldout") for r in (first, second)]
    assert main(["eval", "recognition", "--gallery", f"{views[0]}/gallery", "--probes", f"{views[0]}/probes",
                 "--gallery", f"{views[1]}/gallery", "--probes", f"{views[1]}/probes", "--embedder", "baseline",
                 "--embedder", "baseline@0.9", "--shots", "1", "--seeds", "1", "--quiet", "--config", str(config)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [s["gallery"] for s in report["sets"]] == [f"{views[0]}/gallery", f"{views[1]}/gallery"]
    assert [len(s["embedders"]) for s in report["sets"]] == [2, 2]
    assert [s["embedders"][0]["closed_set"]["1-shot"]["characters"] for s in report["sets"]] == [3, 4]
    assert report["sets"][0]["embedders"][0]["embed_ms_per_face"] > 0
    assert main(["eval", "recognition", "--gallery", f"{views[0]}/gallery", "--probes", f"{views[0]}/probes",
                 "--gallery", f"{views[1]}/gallery", "--config", str(config)]) != 0
    assert "as many --probes" in capsys.readouterr().err
