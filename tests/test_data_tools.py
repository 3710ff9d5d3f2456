"""`kaobot data …`: iCartoonFace converters and the synthetic generator, on inputs made here."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from tools.cli import main
from training.icartoonface import crop_recognition, csv_to_yolo, read_names
from training.synth import SynthConfig, generate, identity_style


def _jpeg(path: Path, width: int, height: int, value: int = 128) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = np.full((height, width, 3), value, np.uint8)
    cv2.rectangle(img, (10, 10), (width // 2, height // 2), (20, 20, 250), -1)  # BGR: red
    cv2.imwrite(str(path), img)


def _labels(path: Path) -> list[list[float]]:
    return [[float(v) for v in line.split()] for line in path.read_text().splitlines()]


@pytest.fixture
def det_csv(tmp_path: Path) -> tuple[Path, Path]:
    images = tmp_path / "imgs"
    _jpeg(images / "a.jpg", 200, 100)
    _jpeg(images / "b.jpg", 100, 100)
    rows = [
        "a.jpg,20,10,60,50",  # 1
        "a.jpg,150,50,260,120",  # 2: past the right and bottom edges -> clipped
        "b.jpg,0,0,50,50",  # 3
        "b.jpg,oops,0,50,50",  # 4: bad number
        "c.jpg,0,0,10,10",  # 5: missing image
        "b.jpg,10,10",  # 6: too few fields
        "b.jpg,0,0,50,50",  # 7: duplicate of line 3
        "b.jpg,120,0,150,40",  # 8: entirely outside -> empty after clipping
    ]
    csv_path = tmp_path / "det.csv"
    csv_path.write_text("\n".join(rows) + "\n")
    return csv_path, images


def test_yolo_conversion_normalises_clips_and_reports_bad_rows(tmp_path, det_csv):
    csv_path, images = det_csv
    out = tmp_path / "yolo"
    report = csv_to_yolo(csv_path, images, out, split="train")
    a = _labels(out / "labels/train/a.txt")
    assert a[0] == pytest.approx([0, 40 / 200, 30 / 100, 40 / 200, 40 / 100])
    # clipped to x 150..200, y 50..100
    assert a[1] == pytest.approx([0, 175 / 200, 75 / 100, 50 / 200, 50 / 100])
    assert _labels(out / "labels/train/b.txt") == [pytest.approx([0, 0.25, 0.25, 0.5, 0.5])]
    assert report.boxes == 3 and report.clipped == 1 and report.duplicates == 1
    bad_lines = sorted(int(p.split(":")[0].split()[1]) for p in report.problems)
    assert bad_lines == [4, 5, 6, 8]
    assert (out / "images/train/a.jpg").resolve() == (images / "a.jpg").resolve()
    yaml_text = (out / "dataset.yaml").read_text()
    assert "train: images/train" in yaml_text and "nc: 1" in yaml_text


def test_yolo_conversion_is_idempotent(tmp_path, det_csv):
    csv_path, images = det_csv
    out = tmp_path / "yolo"
    csv_to_yolo(csv_path, images, out)
    first = {p.name: p.read_text() for p in (out / "labels/train").iterdir()}
    csv_to_yolo(csv_path, images, out)
    assert {p.name: p.read_text() for p in (out / "labels/train").iterdir()} == first
    assert len(_labels(out / "labels/train/a.txt")) == 2


def test_yolo_cli_prints_line_numbers(tmp_path, det_csv, capsys):
    csv_path, images = det_csv
    assert main(["data", "icartoonface-yolo", "--csv", str(csv_path), "--images", str(images),
                 "--out", str(tmp_path / "y"), "--split", "val"]) == 0
    out = capsys.readouterr().out
    assert "line 4:" in out and "line 5:" in out and "3 boxes written" in out
    assert (tmp_path / "y/labels/val/b.txt").is_file()


@pytest.fixture
def rec_list(tmp_path: Path) -> tuple[Path, Path]:
    images = tmp_path / "rec"
    _jpeg(images / "personai_icartoonface_rectrain_00000/x_0.jpg", 120, 80)
    _jpeg(images / "personai_icartoonface_rectrain_00000/x_1.jpg", 120, 80)
    _jpeg(images / "personai_icartoonface_rectrain_00007/y_0.jpg", 60, 60)
    rows = [
        "personai_icartoonface_rectrain_00000/x_0.jpg\t10\t10\t60\t40",
        "personai_icartoonface_rectrain_00000/x_1.jpg\t-20\t5\t50\t70",  # clipped
        "personai_icartoonface_rectrain_00007/y_0.jpg\t5\t5\t30\t30",
        "personai_icartoonface_rectrain_00007/missing.jpg\t5\t5\t30\t30",  # line 4: missing
        "no_folder.jpg\t1\t1\t5\t5",  # line 5: no identity folder
        "personai_icartoonface_rectrain_00007/y_0.jpg\t5\t5",  # line 6: too few fields
    ]
    list_path = tmp_path / "rec.txt"
    list_path.write_text("\n".join(rows) + "\n")
    return list_path, images


def test_crop_writes_identity_folders_with_names_and_is_resumable(tmp_path, rec_list):
    list_path, images = rec_list
    names = tmp_path / "names.txt"
    names.write_text("0\tKaori Miyazono\n7 Rei/Ayanami\n")
    assert read_names(names) == {"0": "Kaori Miyazono", "7": "Rei/Ayanami"}
    out = tmp_path / "crops"
    report = crop_recognition(list_path, images, out, margin=0.2, size=50, names_path=names)
    assert report.boxes == 3 and report.clipped == 1
    assert sorted(int(p.split(":")[0].split()[1]) for p in report.problems) == [4, 5, 6]
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["Kaori Miyazono", "Rei_Ayanami"]
    crop = cv2.imread(str(out / "Kaori Miyazono/x_0.jpg"))
    assert crop.shape == (50, 50, 3)
    assert json.loads((out / "crops.json").read_text()) == {"margin": 0.2, "size": 50, "keep_aspect": True}
    # resume: a deleted crop is redone, the others are kept
    (out / "Rei_Ayanami/y_0.jpg").unlink()
    again = crop_recognition(list_path, images, out, margin=0.2, size=50, names_path=names)
    assert again.boxes == 1 and again.skipped_existing == 2
    with pytest.raises(ValueError, match="other options"):
        crop_recognition(list_path, images, out, margin=0.5, size=50)


def test_crop_stretch_mode_matches_the_original(tmp_path, rec_list):
    list_path, images = rec_list
    out = tmp_path / "orig"
    crop_recognition(list_path, images, out, margin=0.0, size=40, keep_aspect=False)
    crop = cv2.cvtColor(cv2.imread(str(out / "personai_icartoonface_rectrain_00000/x_0.jpg")), cv2.COLOR_BGR2RGB)
    # box 10..60 × 10..40 of a picture whose red square spans 10..60 × 10..40: all red
    assert crop.shape == (40, 40, 3) and crop[..., 0].mean() > 200 and crop[..., 2].mean() < 60


def test_synth_writes_both_formats_deterministically(tmp_path):
    cfg = SynthConfig(identities=3, per_identity=4, detection_images=5, val_fraction=0.4, seed=3)
    counts = generate(tmp_path / "a", cfg)
    generate(tmp_path / "b", cfg)
    for rel in ("recognition/rec_det.txt", "detection/train.csv", "detection/val.csv"):
        assert (tmp_path / "a" / rel).read_text() == (tmp_path / "b" / rel).read_text()
    rows = (tmp_path / "a/recognition/rec_det.txt").read_text().splitlines()
    assert len(rows) == counts["recognition_images"] == 12
    assert len(list((tmp_path / "a/detection/images/train").iterdir())) == 3
    assert len(list((tmp_path / "a/detection/images/val").iterdir())) == 2
    for line in (tmp_path / "a/detection/train.csv").read_text().splitlines():
        name, *box = line.split(",")
        x1, y1, x2, y2 = map(int, box)
        h, w = cv2.imread(str(tmp_path / "a/detection/images/train" / name)).shape[:2]
        assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h


def test_synth_identities_differ_and_vary():
    styles = [identity_style(0, i) for i in range(30)]
    assert len({s.hair for s in styles}) == 30 and len({s.eyes for s in styles}) == 30
    assert {s.twintails for s in styles} == {True, False} and len({s.bangs for s in styles}) > 2


def test_synth_faces_are_found_by_animeface(tmp_path):
    """The recognition pictures are real enough for the pretrained detector."""
    from recognition.detect.animeface_backend import AnimefaceDetector

    generate(tmp_path, SynthConfig(identities=3, per_identity=3, detection_images=0), what=("recognition",))
    det = AnimefaceDetector(threshold=0.5, min_size=16)
    assert det.settings() == {"threshold": 0.5, "min_size": 16, "pad": 0.25, "max_side": 1024, "pad_below": 640}
    hits = 0
    for line in (tmp_path / "recognition/rec_det.txt").read_text().splitlines():
        rel, *box = line.split("\t")
        img = cv2.cvtColor(cv2.imread(str(tmp_path / "recognition/images" / rel)), cv2.COLOR_BGR2RGB)
        x1, y1, x2, y2 = map(int, box)
        hits += any(f.box[0] < (x1 + x2) / 2 < f.box[2] and f.box[1] < (y1 + y2) / 2 < f.box[3] for f in det.detect(img))
    assert hits >= 6


@pytest.mark.shared
def test_yolo_conversion_reproduces_the_real_labels(shared_dir, tmp_path):
    """icartoonface-det ships its val boxes both as an iCartoonFace CSV and as YOLO labels."""
    root = shared_dir / "data" / "icartoonface-det"
    rows = (root / "val.csv").read_text().splitlines()
    names = list(dict.fromkeys(r.split(",")[0] for r in rows))[:40]
    subset = tmp_path / "val.csv"
    subset.write_text("\n".join(r for r in rows if r.split(",")[0] in set(names)) + "\n")
    report = csv_to_yolo(subset, root / "images/val", tmp_path / "yolo", split="val")
    assert report.images == 40 and not report.problems
    for name in names:
        stem = Path(name).stem
        ours = sorted(map(tuple, _labels(tmp_path / "yolo/labels/val" / f"{stem}.txt")))
        theirs = sorted(map(tuple, _labels(root / "labels/val" / f"{stem}.txt")))
        assert len(ours) == len(theirs)
        # the CSV holds integer pixels, the shipped labels the original floats: within a pixel
        h, w = cv2.imread(str(root / "images/val" / name)).shape[:2]
        scale = np.array([1, w, h, w, h])
        assert np.abs((np.array(ours) - np.array(theirs)) * scale).max() <= 1.0, name


def test_crop_reads_the_rectest_list_with_unknown_identities(tmp_path):
    images = tmp_path / "rectest"
    _jpeg(images / "t_0.jpg", 120, 80)
    _jpeg(images / "t_1.jpg", 120, 80)
    rows = [
        "t_0.jpg 10 10 60 40 7",
        "t_1.jpg\t10\t10\t60\t40\t-1",  # outside the training set
        "t_1.jpg 70 10 110 50 0",  # a second face in the same picture
        "t_0.jpg 10 10 60 40 seven",  # line 4: bad label
        "t_0.jpg 10 10 60",  # line 5: too few fields
    ]
    list_path = tmp_path / "rectest.txt"
    list_path.write_text("\n".join(rows) + "\n")
    names = tmp_path / "names.txt"
    names.write_text("7\tRei Ayanami\n")
    out = tmp_path / "crops"
    report = crop_recognition(list_path, images, out, margin=0.2, size=50, names_path=names, test_list=True)
    assert report.boxes == 3 and report.images == 2
    assert sorted(int(p.split(":")[0].split()[1]) for p in report.problems) == [4, 5]
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["0", "Rei Ayanami", "unknown"]
    assert [p.name for p in (out / "unknown").iterdir()] == ["t_1.jpg"]
    assert [p.name for p in (out / "0").iterdir()] == ["t_1_3.jpg"]
    assert main(["data", "icartoonface-crop", "--list", str(list_path), "--images", str(images),
                 "--out", str(tmp_path / "cli"), "--test-list"]) == 0
    assert (tmp_path / "cli/unknown/t_1.jpg").is_file() and (tmp_path / "cli/7/t_0.jpg").is_file()
