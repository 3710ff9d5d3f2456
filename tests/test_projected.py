"""The `projected` embedder (a head on the baseline descriptor): its model file must fit the baseline, and
switching to it marks a baseline gallery stale."""

from __future__ import annotations

import pytest
import torch

from recognition.checkpoints import save_checkpoint
from recognition.embed.baseline import BaselineEmbedder
from recognition.embed.projected import ARCH, ProjectedEmbedder
from recognition.errors import ModelFileError
from tools.cli import main


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


def test_switching_to_the_shipped_head_triggers_the_reembed_notice(tmp_path, alice_png, capsys, monkeypatch):
    """A gallery enrolled with the baseline is reported stale once the shipped head is configured."""
    monkeypatch.delenv("KAOBOT_CONFIG", raising=False)
    shipped = "shipped:embedder-head128-fused.pt"
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
