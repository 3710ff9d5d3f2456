"""The recognizer trainer: margin heads, resume, and the whole chain down to `kaobot whois`."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from recognition.checkpoints import load_checkpoint
from recognition.embed.torch_backend import TorchEmbedder
from tools.cli import main
from training.heads import build_head, build_loss

pytestmark = pytest.mark.slow  # training

TINY = ["--backbone", "mobilefacenet-xs", "--input-size", "32", "--dim", "32", "--batch-size", "16",
        "--lr", "0.05", "--warmup-epochs", "0.5", "--threads", "2"]


def test_arcface_and_cosface_logits():
    torch.manual_seed(0)
    emb, labels = torch.randn(4, 8), torch.tensor([0, 1, 2, 0])
    for name, margin in (("arcface", 0.5), ("cosface", 0.35)):
        head = build_head(name, 8, 3, s=10.0)
        logits = head(emb, labels)
        cos = torch.nn.functional.normalize(emb) @ torch.nn.functional.normalize(head.weight).T
        target = cos.gather(1, labels[:, None]).squeeze(1)
        expected = torch.cos(torch.acos(target) + margin) if name == "arcface" else target - margin
        assert torch.allclose(logits.gather(1, labels[:, None]).squeeze(1), 10 * expected, atol=1e-5)
        other = torch.ones_like(cos, dtype=torch.bool).scatter(1, labels[:, None], False)
        assert torch.allclose(logits[other], 10 * cos[other], atol=1e-5)
    with pytest.raises(ValueError, match="valid: arcface, cosface"):
        build_head("sphereface", 8, 3, s=10.0)
    assert math.isfinite(build_loss("focal")(torch.randn(4, 3), labels).item())


@pytest.fixture(scope="module")
def synth_crops(tmp_path_factory) -> Path:
    """Synthetic iCartoonFace recognition data, converted to identity folders by the CLI."""
    root = tmp_path_factory.mktemp("synth")
    assert main(["data", "synth", "--out", str(root), "--identities", "8", "--per-identity", "8",
                 "--recognition", "--seed", "1"]) == 0
    assert main(["data", "icartoonface-crop", "--list", str(root / "recognition/rec_det.txt"),
                 "--images", str(root / "recognition/images"), "--out", str(root / "crops"),
                 "--names", str(root / "recognition/names.txt"), "--size", "48", "--margin", "0.3"]) == 0
    return root


def test_resume_continues_the_run(tmp_path, synth_crops):
    out = tmp_path / "run"
    args = ["train", "recognizer", "--data", str(synth_crops / "crops"), "--output", str(out), *TINY]
    assert main([*args, "--epochs", "1"]) == 0
    state = torch.load(out / "last.pt", map_location="cpu", weights_only=True)
    assert state["epoch"] == 1 and state["config"]["epochs"] == 1 and set(state) >= {"optimizer", "scheduler"}
    assert set(state["modules"]) == {"model", "head"} and len(state["identity"]["classes"]) >= 2
    assert main([*args, "--epochs", "2", "--resume"]) == 0
    history = json.loads((out / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2]
    assert (out / "curves.png").stat().st_size > 1000


def test_chain_synth_train_eval_whois(tmp_path, synth_crops, capsys):
    """synth → crop → train → eval → checkpoint → `kaobot whois` with `embedder.backend: torch`."""
    out = tmp_path / "run"
    assert main(["train", "recognizer", "--data", str(synth_crops / "crops"), "--output", str(out),
                 "--epochs", "3", "--head", "cosface", "--val-split", "identities", "--val-fraction", "0.25",
                 *TINY]) == 0
    result = json.loads(capsys.readouterr().out)
    history = json.loads((out / "history.json").read_text())
    assert history[-1]["loss"] < history[0]["loss"]
    assert {"rank1", "tar@far=0.01"} <= set(history[0])
    payload = load_checkpoint(out / "best.pt", kind="embedder")
    assert payload["meta"]["margin"] == 0.3 and payload["meta"]["input_size"] == 32
    assert payload["model_id"] == result["best"]["model_id"]
    embedder = TorchEmbedder(out / "best.pt", device="cpu")
    assert embedder.dim == 32

    config = tmp_path / "kaobot.yaml"
    config.write_text(
        f"data_dir: {tmp_path / 'data'}\n"
        f"embedder:\n  backend: torch\n  checkpoint: {out / 'best.pt'}\n  device: cpu\n"
        "detector:\n  min_size: 16\n"
    )
    crops = synth_crops / "crops"
    assert main(["eval", "recognition", "--gallery", str(crops), "--probes", str(crops), "--shots", "1",
                 "--seeds", "1", "--quiet", "--config", str(config), "--json", str(tmp_path / "eval.json"),
                 "--plots", str(tmp_path / "plots")]) == 0
    report = json.loads((tmp_path / "eval.json").read_text())
    assert report["embedder"] == payload["model_id"] and 0 <= report["closed_set"]["1-shot"]["rank1"] <= 1
    assert (tmp_path / "plots/recognition_open_set.png").is_file() and (tmp_path / "plots/recognition_roc.png").is_file()
    capsys.readouterr()

    pictures = synth_crops / "recognition/images"
    alice, bella = pictures / "synth_00000/synth_00000_0000.jpg", pictures / "synth_00001/synth_00001_0000.jpg"
    assert main(["enroll", "Alice", str(alice), "--config", str(config)]) == 0
    assert main(["enroll", "Bella", str(bella), "--config", str(config)]) == 0
    capsys.readouterr()
    assert main(["whois", str(alice), "--json", "--config", str(config)]) == 0
    answer = json.loads(capsys.readouterr().out)
    face = answer["faces"][0]
    assert face["name"] == "Alice" and face["similarity"] > 0.99
    assert {c["name"] for c in face["candidates"]} == {"Alice", "Bella"}
