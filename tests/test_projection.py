"""`kaobot train projection` and the projected-baseline embedder it produces."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from recognition.checkpoints import save_checkpoint
from recognition.config import EmbedderSettings
from recognition.embed import build_embedder
from recognition.embed.baseline import BaselineEmbedder
from recognition.embed.projected import ARCH, ProjectedEmbedder
from recognition.errors import ModelFileError
from recognition.faces import Face
from tools.cli import main
from training.projection import cross_validate, fit

from .test_anime_id_views import _fake_anime_id


def test_projection_separates_characters_better_than_the_raw_descriptor():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(12, 40))
    # Every character differs from the others in a few dimensions; a large shared nuisance
    # direction (lighting, say) varies within every character.
    y = np.repeat(np.arange(12), 10)
    nuisance = rng.normal(size=(1, 40)) * 6
    x = centres[y] * 0.6 + rng.normal(size=(len(y), 1)) * nuisance + rng.normal(size=(len(y), 40)) * 0.3
    labels = np.array([f"c{i}" for i in y])
    x = x / np.linalg.norm(x, axis=1, keepdims=True)  # unit rows, as the baseline descriptor
    cv = cross_validate(x.astype(np.float32), labels, [0.1, 0.5], None, folds=3, seed=0, weights=[0.5, 1.0])
    assert max(cv["mean"]["s=0.1 w=1"], cv["mean"]["s=0.5 w=1"]) > cv["mean"]["baseline"] + 0.1
    # The fused setting lies between the raw descriptor and the projection alone here.
    assert cv["mean"]["baseline"] + 0.05 < cv["mean"]["s=0.1 w=0.5"] < cv["mean"]["s=0.1 w=1"]
    assert set(cv["metrics"]["s=0.5 w=0.5"]) == {"rank1_1shot", "rank1_5shot", "tar@far=0.01"}
    assert (cv["best_shrinkage"], cv["best_weight"]) in [(s, w) for s in (0.1, 0.5) for w in (0.5, 1.0)]
    best = cv["mean"][f"s={cv['best_shrinkage']:g} w={cv['best_weight']:g}"]
    assert best == max(v for k, v in cv["mean"].items() if k != "baseline")
    mean, matrix = fit(x, labels, 0.5, None)
    assert mean.shape == (40,) and matrix.shape == (40, 11)


def test_train_projection_cli_then_embed(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("KAOBOT_CONFIG", raising=False)
    root = _fake_anime_id(tmp_path / "anime-id", {c: ("train", 6) for c in "abcdef"})
    out = tmp_path / "proj"
    assert main(["train", "projection", "--data", str(root), "--output", str(out), "--folds", "2",
                 "--shrinkage", "0.3", "0.6"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["shrinkage"] in (0.3, 0.6) and (out / "cv.json").is_file()
    emb = build_embedder(EmbedderSettings(backend="projected", checkpoint=str(out / "projection.pt")))
    assert isinstance(emb, ProjectedEmbedder) and emb.dim == 5 and emb.model_id == result["model_id"]
    image = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    vectors = emb.embed(image, [Face((8, 8, 56, 56), 1.0)])
    assert vectors.shape == (1, 5) and np.linalg.norm(vectors[0]) == pytest.approx(1.0, abs=1e-5)
    assert emb.embed(image, []).shape == (0, 5)
    # The cache is reused and the fit is deterministic: the same id again.
    assert main(["train", "projection", "--data", str(root), "--output", str(out), "--folds", "2",
                 "--shrinkage", "0.3", "0.6"]) == 0
    assert json.loads(capsys.readouterr().out)["model_id"] == result["model_id"]


def test_fused_projection_cli_names_the_weight_and_fuses_similarities(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("KAOBOT_CONFIG", raising=False)
    root = _fake_anime_id(tmp_path / "anime-id", {c: ("train", 6) for c in "abcdef"})
    out = tmp_path / "fused"
    assert main(["train", "projection", "--data", str(root), "--output", str(out), "--folds", "2",
                 "--shrinkage", "0.5", "--fusion-weights", "0.3"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["fusion_weight"] == 0.3 and "-fused-w0.3-" in result["model_id"]
    fused = build_embedder(EmbedderSettings(backend="projected", checkpoint=str(out / "projection.pt")))
    assert isinstance(fused, ProjectedEmbedder) and fused.fusion_weight == 0.3
    base = BaselineEmbedder()
    assert fused.dim == 5 + base.dim and fused.meta["dim"] == fused.dim
    rng = np.random.default_rng(2)
    images = [rng.integers(0, 256, (64, 64, 3), dtype=np.uint8) for _ in range(2)]
    faces = [Face((8, 8, 56, 56), 1.0)]
    a, b = (fused.embed(img, faces)[0] for img in images)
    assert np.linalg.norm(a) == pytest.approx(1.0, abs=1e-5)
    d = [base.embed(img, faces)[0] for img in images]
    p = [fused.project(v[None])[0][:5] / np.sqrt(0.3) for v in d]
    assert float(a @ b) == pytest.approx(0.3 * float(p[0] @ p[1]) + 0.7 * float(d[0] @ d[1]), abs=1e-5)
    # The same fit without fusion is another model: another id and another dimension.
    assert main(["train", "projection", "--data", str(root), "--output", str(tmp_path / "plain"), "--folds", "2",
                 "--shrinkage", "0.5"]) == 0
    plain = json.loads(capsys.readouterr().out)
    assert plain["model_id"] != result["model_id"] and "fused" not in plain["model_id"]
    assert main(["train", "projection", "--data", str(root), "--output", str(tmp_path / "bad"), "--shrinkage", "0.5",
                 "--fusion-weights", "0.5", "0"]) != 0
    assert "fusion weight must lie strictly between 0 and 1" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()


def test_projection_checkpoint_must_fit_the_baseline(tmp_path):
    dim = BaselineEmbedder().dim
    path = tmp_path / "p.pt"
    save_checkpoint(path, kind="embedder", model_id="x", arch=ARCH, arch_kwargs={}, meta={"base": "other-v0", "dim": 4},
                    state_dict={"mean": torch.zeros(dim), "matrix": torch.zeros(dim, 4)})
    with pytest.raises(ModelFileError, match="other-v0"):
        ProjectedEmbedder(path)
    save_checkpoint(path, kind="embedder", model_id="x", arch=ARCH, arch_kwargs={},
                    meta={"base": BaselineEmbedder.model_id, "dim": 4},
                    state_dict={"mean": torch.zeros(dim + 1), "matrix": torch.zeros(dim, 4)})
    with pytest.raises(ModelFileError, match="shapes"):
        ProjectedEmbedder(path)
    save_checkpoint(path, kind="embedder", model_id="x", arch=ARCH, arch_kwargs={},
                    meta={"base": BaselineEmbedder.model_id, "dim": 4, "fusion_weight": 1.5},
                    state_dict={"mean": torch.zeros(dim), "matrix": torch.zeros(dim, 4)})
    with pytest.raises(ModelFileError, match="fusion weight"):
        ProjectedEmbedder(path)


def test_switching_to_the_shipped_projection_triggers_the_reembed_notice(tmp_path, alice_png, capsys, monkeypatch):
    """A gallery enrolled with the baseline is reported stale once the shipped projection is configured."""
    monkeypatch.delenv("KAOBOT_CONFIG", raising=False)
    shipped = "shipped:embedder-lda37.pt"
    picture = tmp_path / "alice.png"
    picture.write_bytes(alice_png)
    data = str(tmp_path / "data")
    assert main(["enroll", "Alice", str(picture), "--data-dir", data]) == 0
    config = tmp_path / "k.yaml"
    config.write_text(f"embedder:\n  backend: projected\n  checkpoint: {shipped}\n")
    capsys.readouterr()
    assert main(["whois", str(picture), "--data-dir", data, "--config", str(config)]) == 0
    err = capsys.readouterr().err
    assert BaselineEmbedder.model_id in err and "kaobot gallery reembed" in err
    assert ProjectedEmbedder(shipped).model_id in err
