"""`kaobot train descriptor-head`: an ArcFace MLP head on the baseline descriptor, served by `projected`."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
import torch

from recognition.config import EmbedderSettings
from recognition.embed import build_embedder
from recognition.embed.baseline import BaselineEmbedder
from recognition.embed.projected import ProjectedEmbedder, mlp_forward
from recognition.faces import Face
from tools.cli import main
from training.descriptor_head import fold, get_args_parser, train_net

from .test_anime_id_views import _fake_anime_id

pytestmark = pytest.mark.slow  # training


def _clusters(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(8), 12)
    x = rng.normal(size=(8, 30))[y] + rng.normal(size=(len(y), 30)) * 0.5
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32), np.array([f"c{i}" for i in y])


def test_folded_weights_reproduce_the_trained_network():
    x, y = _clusters()
    args = get_args_parser().parse_args(["--data", "d", "--output", "o", "--hidden", "16", "--dim", "8"])
    net = train_net(x, y, args, epochs=3)
    weights = fold(net, x.mean(axis=0))
    with torch.no_grad():
        expected = torch.nn.functional.normalize(net(torch.from_numpy(x - x.mean(axis=0)))).numpy()
    np.testing.assert_allclose(mlp_forward(x, weights), expected, atol=1e-5)


def test_trained_head_separates_training_characters():
    x, y = _clusters(1)
    args = get_args_parser().parse_args(["--data", "d", "--output", "o", "--hidden", "32", "--dim", "8"])
    z = mlp_forward(x, fold(train_net(x, y, args, epochs=30), x.mean(axis=0)))
    sims = z @ z.T
    same = y[:, None] == y[None, :]
    assert sims[same].mean() > sims[~same].mean() + 0.5


def test_descriptor_head_cli_then_embed(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("KAOBOT_CONFIG", raising=False)
    root = _fake_anime_id(tmp_path / "anime-id", {c: ("train", 6) for c in "abcdef"})
    out = tmp_path / "head"
    assert main(["train", "descriptor-head", "--data", str(root), "--output", str(out), "--folds", "2",
                 "--epochs", "2", "3", "--fusion-weights", "0.5", "1", "--hidden", "16", "--dim", "8"]) == 0
    result = json.loads(capsys.readouterr().out)
    cv = json.loads((out / "cv.json").read_text())["cv"]
    assert set(cv["mean"]) == {"baseline", "e=2 w=0.5", "e=2 w=1", "e=3 w=0.5", "e=3 w=1"}
    emb = build_embedder(EmbedderSettings(backend="projected", checkpoint=str(out / "head.pt")))
    assert isinstance(emb, ProjectedEmbedder) and emb.model_id == result["model_id"]
    fused = result["fusion_weight"] < 1
    assert emb.dim == 8 + (BaselineEmbedder().dim if fused else 0) and ("-fused-" in emb.model_id) == fused
    image = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    vectors = emb.embed(image, [Face((8, 8, 56, 56), 1.0)])
    assert vectors.shape == (1, emb.dim) and np.linalg.norm(vectors[0]) == pytest.approx(1.0, abs=1e-5)


def test_a_head_with_a_broken_second_layer_is_refused(tmp_path):
    from recognition.checkpoints import save_checkpoint
    from recognition.embed.projected import ARCH
    from recognition.errors import ModelFileError

    dim = BaselineEmbedder().dim
    path = tmp_path / "h.pt"
    save_checkpoint(path, kind="embedder", model_id="x", arch=ARCH, arch_kwargs={},
                    meta={"base": BaselineEmbedder.model_id, "dim": 4},
                    state_dict={"mean": torch.zeros(dim), "matrix": torch.zeros(dim, 6), "bias": torch.zeros(6),
                                "matrix2": torch.zeros(5, 4), "bias2": torch.zeros(4)})
    with pytest.raises(ModelFileError, match="second layer"):
        ProjectedEmbedder(path)


def test_parser_defaults_are_a_small_grid():
    args = get_args_parser().parse_args(["--data", "d", "--output", "o"])
    assert isinstance(args, argparse.Namespace) and len(args.epochs) * len(args.fusion_weights) == 4
