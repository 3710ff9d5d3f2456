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
    cv = cross_validate(x.astype(np.float32), labels, [0.1, 0.5], None, folds=3, seed=0)
    assert max(cv["mean"]["0.1"], cv["mean"]["0.5"]) > cv["mean"]["baseline"] + 0.2
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


def test_switching_to_the_shipped_projection_triggers_the_reembed_notice(tmp_path, alice_png, capsys, monkeypatch):
    """A gallery enrolled with the baseline is reported stale once the shipped projection is configured."""
    from pathlib import Path

    monkeypatch.delenv("KAOBOT_CONFIG", raising=False)
    shipped = Path(__file__).resolve().parents[1] / "models" / "embedder-lda37.pt"
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
