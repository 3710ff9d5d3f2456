"""`kaobot eval detection`: metrics on known detections, and the CLI on synthetic pictures."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from recognition.faces import Face
from tools.cli import main
from training import detection_eval as dev


class ListDetector:
    """Returns fixed faces per picture size (a stand-in whose answers the test knows)."""

    model_id = "fixed"

    def __init__(self, answers: dict[tuple[int, int], list[Face]]) -> None:
        self.answers = answers

    def detect(self, image: np.ndarray) -> list[Face]:
        return self.answers[image.shape[:2]]


@pytest.fixture
def truth(tmp_path: Path) -> dev.GroundTruth:
    for name, (w, h) in {"a.jpg": (200, 100), "b.jpg": (100, 120)}.items():
        cv2.imwrite(str(tmp_path / name), np.zeros((h, w, 3), np.uint8))
    csv_path = tmp_path / "gt.csv"
    csv_path.write_text("a.jpg,10,10,30,30\na.jpg,100,20,180,90\nb.jpg,40,40,70,80\nb.jpg,broken\n")
    return dev.load_csv(csv_path, tmp_path)


def test_perfect_detections_score_one(truth):
    answers = {(100, 200): [Face((10, 10, 30, 30), 0.9), Face((100, 20, 180, 90), 0.8)],
               (120, 100): [Face((40, 40, 70, 80), 0.7)]}
    report, _ = dev.evaluate_detector(ListDetector(answers), truth, threshold=0.5)
    assert report["ap50"] == pytest.approx(1.0) and report["ap50_95"] == pytest.approx(1.0)
    op = report["operating_point"]
    assert op["precision"] == 1.0 and op["recall"] == 1.0 and op["faces"] == 3


def test_misses_false_positives_and_threshold(truth):
    answers = {(100, 200): [Face((100, 20, 180, 90), 0.9), Face((0, 60, 20, 90), 0.95)],  # small face missed, one FP
               (120, 100): [Face((42, 42, 72, 82), 0.3)]}  # found, but below the operating threshold
    report, (recall, precision) = dev.evaluate_detector(ListDetector(answers), truth, threshold=0.5)
    op = report["operating_point"]
    assert (op["true_positives"], op["false_positives"]) == (1, 1)
    assert op["precision"] == 0.5 and op["recall"] == pytest.approx(1 / 3)
    assert op["by_size"]["<24px"] == {"faces": 1, "recall": 0.0}
    assert op["by_size"]["48-96px"] == {"faces": 1, "recall": 1.0}
    # ranked FP (0.95), TP (0.9), TP (0.3): interpolated precision is 2/3 up to recall 2/3, then 0;
    # COCO's 101 recall points give AP50 = 67/101 · 2/3
    assert report["ap50"] == pytest.approx(67 / 101 * 2 / 3, abs=1e-6)
    assert precision[recall.index(0.5)] == pytest.approx(2 / 3) and precision[-1] == 0
    assert dev.operating_point(truth, {p: np.zeros((0, 5)) for p in truth.images}, 0.5)["recall"] == 0.0


def test_yolo_labels_are_found_beside_images(tmp_path):
    (tmp_path / "images/val").mkdir(parents=True)
    (tmp_path / "labels/val").mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "images/val/x.jpg"), np.zeros((100, 200, 3), np.uint8))
    (tmp_path / "labels/val/x.txt").write_text("0 0.5 0.5 0.2 0.4\n")
    gt = dev.load_yolo(tmp_path / "images/val")
    assert gt.boxes[gt.images[0]].tolist() == [[80.0, 30.0, 120.0, 70.0]]


def test_cli_evaluates_animeface_on_synthetic_pictures(tmp_path, capsys):
    assert main(["data", "synth", "--out", str(tmp_path), "--detection", "--detection-images", "4",
                 "--val-fraction", "0", "--face-min", "60", "--face-max", "150", "--max-faces", "2"]) == 0
    assert main(["data", "icartoonface-yolo", "--csv", str(tmp_path / "detection/train.csv"),
                 "--images", str(tmp_path / "detection/images/train"), "--out", str(tmp_path / "yolo")]) == 0
    capsys.readouterr()
    assert main(["eval", "detection", "--images", str(tmp_path / "yolo/images/train"), "--detector", "animeface",
                 "--quiet", "--plots", str(tmp_path / "plots"), "--json", str(tmp_path / "det.json")]) == 0
    report = json.loads((tmp_path / "det.json").read_text())
    result = report["detectors"][0]
    assert result["model_id"].startswith("animeface") and report["data"]["faces"] >= 4
    # large drawn faces: animeface finds most of them
    assert result["operating_point"]["recall"] >= 0.5 and result["ap50"] >= 0.4
    assert (tmp_path / "plots/detection.png").stat().st_size > 1000
