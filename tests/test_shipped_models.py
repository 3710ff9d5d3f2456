"""The models shipped under recognition/weights/: they load, and reach their measured quality on a small slice of
held-out data (anime-id characters never seen in training; icartoonface-det val pictures). Skipped
when ../shared is absent."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recognition.config import EmbedderSettings
from recognition.embed import build_embedder
from recognition.embed.baseline import BaselineEmbedder
from recognition.embed.fusion import FusionEmbedder
from recognition.embed.projected import ProjectedEmbedder
from recognition.faces import Face
from recognition.weights import WEIGHTS_DIR
from training import recognition_eval as ev
from training.anime_id_views import build_views
from training.datasets import read_rgb

MODELS = WEIGHTS_DIR
PER_CHARACTER = 5

pytestmark = [pytest.mark.shared, pytest.mark.slow]  # slow: the shipped models on real pictures


def _heldout_views(tmp_path_factory, dataset: str) -> Path:
    """The held-out gallery/probe views of a shared character set (skipped when ../shared is absent)."""
    from .conftest import SHARED

    if not SHARED.is_dir():
        pytest.skip("../shared is absent")
    out = tmp_path_factory.mktemp(dataset)
    build_views(SHARED / "data" / dataset, out)
    return out / "heldout"


@pytest.fixture(scope="module")
def heldout(tmp_path_factory) -> Path:
    return _heldout_views(tmp_path_factory, "anime-id")


def _embed(embedder, folder: Path) -> ev.EmbeddedSet:
    """The first PER_CHARACTER crops of each character; the face box is the crop's central 60 %
    (the crops hold the face plus a margin), so no detector runs."""
    vectors, labels = [], []
    for path, label in ev.list_labelled_images(folder):
        if labels.count(label) == PER_CHARACTER:
            continue
        img = read_rgb(path)
        h, w = img.shape[:2]
        face = Face((int(0.2 * w), int(0.2 * h), int(0.8 * w), int(0.8 * h)), 1.0)
        vectors.append(embedder.embed(img, [face])[0])
        labels.append(label)
    return ev.EmbeddedSet(np.array(vectors), np.array(labels), np.ones(len(labels), bool))


def slice_metrics(embedder, heldout: Path) -> dict[str, float]:
    gallery, probes = _embed(embedder, heldout / "gallery"), _embed(embedder, heldout / "probes")
    return {"rank1_1shot": ev.closed_set(gallery, probes, 1, seeds=5)["rank1"],
            "rank1_5shot": ev.closed_set(gallery, probes, 5, seeds=1)["rank1"],
            "tar@far=0.01": ev.verification(gallery, probes)["tar@far=0.01"]}


def test_fused_descriptor_head_beats_the_baseline_on_unseen_characters(heldout):
    model = ProjectedEmbedder(MODELS / "embedder-head128-fused.pt")
    assert model.model_id.startswith("kaobot-mlp128-fused-w0.3-") and model.dim == 128 + BaselineEmbedder().dim
    ours, base = slice_metrics(model, heldout), slice_metrics(BaselineEmbedder(), heldout)
    # Measured (deterministic): ours 0.5725 / 0.85 / 0.345, baseline 0.445 / 0.7375 / 0.2025.
    assert ours["rank1_1shot"] >= 0.55 and ours["rank1_5shot"] >= 0.82 and ours["tar@far=0.01"] >= 0.33
    assert ours["rank1_1shot"] > base["rank1_1shot"] + 0.1
    assert ours["tar@far=0.01"] > base["tar@far=0.01"] + 0.1


@pytest.fixture(scope="module")
def kancolle_heldout(tmp_path_factory) -> Path:
    return _heldout_views(tmp_path_factory, "kancolle-faces")


def test_default_pretrained_fusion_beats_the_head_on_unseen_characters(heldout, kancolle_heldout):
    """The default embedder (EfficientNet-Lite0 ⊕ head ⊕ baseline) on two sets of characters no model saw."""
    model = FusionEmbedder(MODELS / "embedder-lite0-fused.pt", device="cpu")
    assert model.model_id == build_embedder(EmbedderSettings(device="cpu")).model_id  # it is the default
    assert model.learned.flip and model.weight == 0.5 and model.threshold == 0.6138
    assert model.learned.input_size == 160 and model.learned.model_id.endswith("-flip-s160")  # trained at 128
    assert (MODELS / "embedder-lite0-fused.pt").stat().st_size < 10 * 2**20
    head = ProjectedEmbedder(MODELS / "embedder-head128-fused.pt")
    for folder, floor in ((heldout, (0.72, 0.9, 0.55)), (kancolle_heldout, (0.81, 0.94, 0.83))):
        ours, theirs = slice_metrics(model, folder), slice_metrics(head, folder)
        # Measured (deterministic): anime-id 0.755 / 0.925 / 0.585 vs the head's 0.5725 / 0.8375 / 0.3525;
        # kancolle-faces 0.839 / 0.963 / 0.857 vs 0.751 / 0.948 / 0.651 (served at 128 px, w 0.3:
        # 0.7075 / 0.925 / 0.51 and 0.833 / 0.978 / 0.827).
        measured = (ours["rank1_1shot"], ours["rank1_5shot"], ours["tar@far=0.01"])
        assert all(m >= f for m, f in zip(measured, floor)), (measured, floor)
        assert ours["rank1_1shot"] > theirs["rank1_1shot"] + 0.05
        assert ours["tar@far=0.01"] > theirs["tar@far=0.01"] + 0.1


def test_shipped_detectors_beat_animeface_on_icartoonface_val(shared_dir):
    from recognition.config import DetectorSettings
    from recognition.detect import build_detector
    from recognition.detect.animeface_backend import AnimefaceDetector
    from recognition.detect.torch_backend import TorchDetector
    from training import detection_eval as de

    gt = de.subset(de.load_yolo(shared_dir / "data" / "icartoonface-det" / "images" / "val"), 30, seed=1)
    default = build_detector(DetectorSettings(device="cpu"))
    fine_tuned = TorchDetector(MODELS / "detector-fcos-icf512.pt", device="cpu")
    assert default.model_id == fine_tuned.model_id == "kaobot-fcos_mobilenet_p3-0442383f9e"
    first = TorchDetector(MODELS / "detector-fcos-icf384.pt", device="cpu")
    new, _ = de.evaluate_detector(default, gt, threshold=0.5)
    old, _ = de.evaluate_detector(first, gt, threshold=0.5)
    theirs, _ = de.evaluate_detector(AnimefaceDetector(), gt, threshold=0.5)
    # Measured (deterministic, 30 pictures): AP50 / recall at 0.5 — default (input_side 640, size thresholds)
    # 0.584 / 0.600, the same weights at their own 448–512 px sizing 0.562 / 0.583,
    # first (384) 0.403 / 0.433, animeface 0.109 / 0.100.
    assert new["ap50"] >= 0.5 and new["operating_point"]["recall"] >= 0.55
    assert old["ap50"] >= 0.35 and old["operating_point"]["recall"] >= 0.4
    assert new["ap50"] > old["ap50"] > theirs["ap50"] + 0.2
    assert new["operating_point"]["recall"] > old["operating_point"]["recall"] > theirs["operating_point"]["recall"]
