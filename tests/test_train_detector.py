"""The detector trainer: augmentation keeps boxes valid, checkpoints load in the torch detector."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch

from recognition.detect.nets import build_detection_net
from recognition.detect.torch_backend import TorchDetector
from tools.cli import main
from training.detector import AUGMENTATIONS, YoloFaces, read_dataset_yaml

pytestmark = pytest.mark.slow  # training


@pytest.fixture(scope="module")
def yolo_set(tmp_path_factory):
    root = tmp_path_factory.mktemp("det")
    assert main(["data", "synth", "--out", str(root), "--detection", "--detection-images", "6",
                 "--val-fraction", "0.34", "--face-min", "24", "--face-max", "90"]) == 0
    for split in ("train", "val"):
        assert main(["data", "icartoonface-yolo", "--csv", str(root / f"detection/{split}.csv"),
                     "--images", str(root / f"detection/images/{split}"), "--out", str(root / "yolo"),
                     "--split", split]) == 0
    return root / "yolo/dataset.yaml"


def test_augmentations_keep_boxes_inside(yolo_set):
    splits = read_dataset_yaml(yolo_set)
    data = YoloFaces(splits["train"], list(AUGMENTATIONS))
    for epoch in range(4):
        data.epoch = epoch
        for i in range(len(data)):
            image, target = data[i]
            h, w = image.shape[1:]
            boxes = target["boxes"]
            assert image.dtype == torch.float32 and 0 <= image.min() and image.max() <= 1
            assert (boxes[:, 0] >= 0).all() and (boxes[:, 2] <= w).all() and (boxes[:, 3] <= h).all()
            assert (boxes[:, 2] > boxes[:, 0]).all() and len(target["labels"]) == len(boxes)
    flipped = AUGMENTATIONS["flip"](np.zeros((10, 20, 3), np.uint8), np.array([[2.0, 1, 6, 5]]), random.Random(1))
    assert flipped[1].tolist() in ([[14.0, 1, 18, 5]], [[2.0, 1, 6, 5]])


def test_p3_detector_has_a_stride_8_level():
    net = build_detection_net("fcos_mobilenet_p3", backbone="mobilenet_v3_small", min_size=128, max_size=128)
    feats = net.backbone(torch.zeros(1, 3, 128, 128))
    assert [f.shape[-1] for f in feats.values()] == [16, 8, 4, 2]


def test_train_detector_resume_and_serve(tmp_path, yolo_set, capsys):
    out = tmp_path / "run"
    args = ["train", "detector", "--data", str(yolo_set), "--output", str(out), "--arch", "fcos_tiny",
            "--arch-kwargs", '{"min_size": 128, "max_size": 192, "score_thresh": 0.05}', "--batch-size", "2",
            "--threads", "2"]
    assert main([*args, "--epochs", "1"]) == 0
    state = torch.load(out / "last.pt", map_location="cpu", weights_only=True)
    assert state["epoch"] == 1
    assert main([*args, "--epochs", "2", "--resume"]) == 0
    history = json.loads((out / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2] and {"ap50", "ap50_95", "recall"} <= set(history[0])
    detector = TorchDetector(out / "best.pt", device="cpu", threshold=0.0, min_size=0)
    assert detector.model_id.startswith("kaobot-fcos_tiny-")
    assert isinstance(detector.detect(np.zeros((96, 128, 3), np.uint8)), list)
    assert (out / "curves.png").is_file() and not (out / "epoch.pt").exists()


def test_fine_tune_from_a_checkpoint(tmp_path, yolo_set, capsys):
    """`--init` starts from a trained detector's weights (its arch, sizes overridable) on a new schedule."""
    from recognition.checkpoints import load_checkpoint

    first, second = tmp_path / "first", tmp_path / "second"
    common = ["--data", str(yolo_set), "--batch-size", "2", "--threads", "2", "--epochs", "1"]
    assert main(["train", "detector", "--output", str(first), "--arch", "fcos_tiny", "--arch-kwargs",
                 '{"min_size": 128, "max_size": 192, "score_thresh": 0.05}', *common]) == 0
    parent = load_checkpoint(first / "best.pt", kind="detector")
    assert main(["train", "detector", "--output", str(second), "--init", str(first / "best.pt"),
                 "--arch-kwargs", '{"max_size": 224}', *common]) == 0
    child = load_checkpoint(second / "best.pt", kind="detector")
    assert child["arch"] == "fcos_tiny" and child["meta"]["init"] == parent["model_id"]
    assert child["arch_kwargs"] == {**parent["arch_kwargs"], "max_size": 224}
    assert child["model_id"] != parent["model_id"]  # the weights moved
    capsys.readouterr()
    assert main(["train", "detector", "--output", str(tmp_path / "bad"), "--init", str(tmp_path / "none.pt"),
                 *common]) == 1
    assert "model file not found" in capsys.readouterr().err
