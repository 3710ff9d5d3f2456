"""Input sizing and tiling of the torch detector (`recognition.detect.tiling`), with a real tiny FCOS."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from recognition.checkpoints import save_checkpoint
from recognition.config import DetectorSettings
from recognition.detect import build_detector
from recognition.detect.nets import build_detection_net
from recognition.detect.tiling import merge_detections, tile_grid
from recognition.detect.torch_backend import TorchDetector
from recognition.errors import ConfigError
from training.datasets import detector_key
from training.detection_eval import parse_detector_options
from training.drawing import draw_scene

from .conftest import ALICE, BELLA


def _checkpoint(path, **arch_kwargs):
    torch.manual_seed(0)
    net = build_detection_net("fcos_tiny", **arch_kwargs)
    save_checkpoint(
        path,
        kind="detector",
        model_id="tiny",
        arch="fcos_tiny",
        arch_kwargs=arch_kwargs,
        meta={},
        state_dict=net.state_dict(),
    )
    return net.eval()


def _run(net, image: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        out = net([torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).float() / 255])[0]
    return np.concatenate([out["boxes"].numpy(), out["scores"].numpy()[:, None]], 1).astype(np.float64)


def test_tile_grid_covers_the_picture_with_equal_overlapping_tiles():
    tiles = tile_grid(1000, 600, 400, overlap=0.25)
    assert {(x1 - x0, y1 - y0) for x0, y0, x1, y1 in tiles} == {(400, 400)}
    xs, ys = sorted({t[0] for t in tiles}), sorted({t[1] for t in tiles})
    assert xs[0] == 0 and xs[-1] + 400 == 1000 and ys[0] == 0 and ys[-1] + 400 == 600
    assert all(b - a <= 300 for a, b in zip(xs, xs[1:])) and all(b - a <= 300 for a, b in zip(ys, ys[1:]))
    covered = np.zeros((600, 1000), bool)
    for x0, y0, x1, y1 in tiles:
        covered[y0:y1, x0:x1] = True
    assert covered.all()
    assert tile_grid(300, 200, 400) == [(0, 0, 300, 200)]
    with pytest.raises(ValueError, match="overlap"):
        tile_grid(100, 100, 50, overlap=1.0)


def test_merge_maps_tiles_back_drops_cut_boxes_and_suppresses_duplicates():
    tiles = [(0, 0, 100, 100), (60, 0, 160, 100)]
    whole = np.array([[10, 10, 40, 40, 0.9]])
    left = np.array([[11, 11, 41, 41, 0.8], [70, 20, 100, 50, 0.95]])  # a duplicate; a face cut by the right edge
    right = np.array([[10, 20, 40, 50, 0.7]])  # the cut face whole: x 70–100 in the picture
    merged = merge_detections(whole, tiles, [left, right], width=160, height=100)
    assert merged.tolist() == [[10, 10, 40, 40, 0.9], [70, 20, 100, 50, 0.7]]
    assert merge_detections(np.zeros((0, 5)), tiles, [np.zeros((0, 5))] * 2, 160, 100).shape == (0, 5)


def test_input_side_resizes_to_about_that_many_pixels(tmp_path):
    image = draw_scene([(150, 120, 100, ALICE), (420, 140, 90, BELLA)], size=(600, 300))
    _checkpoint(tmp_path / "det.pt", score_thresh=0.0, min_size=128, max_size=256)
    # 600×300 at input_side 300: scale 300 / √(600·300) ≈ 0.707 → longer side 424
    same = _checkpoint(tmp_path / "424.pt", score_thresh=0.0, min_size=424, max_size=424)
    faces = TorchDetector(tmp_path / "det.pt", device="cpu", threshold=0.0, min_size=0, input_side=300).detect(image)
    expected = _run(same, image)
    assert len(faces) == len(expected) > 0
    assert [f.box for f in faces] == [tuple(round(v) for v in b[:4]) for b in expected]
    # a small picture is enlarged at most max_upscale times: 100×50 at input_side 1000, max_upscale 2 → 200
    small = np.ascontiguousarray(image[100:150, 100:200])
    capped = TorchDetector(
        tmp_path / "det.pt", device="cpu", threshold=0.0, min_size=0, input_side=1000, max_upscale=2.0
    )
    at200 = _checkpoint(tmp_path / "200.pt", score_thresh=0.0, min_size=200, max_size=200)
    assert [f.score for f in capped.detect(small)] == pytest.approx(_run(at200, small)[:, 4].tolist())


def test_tiled_detection_is_the_merge_of_whole_picture_and_tiles(tmp_path):
    net = _checkpoint(tmp_path / "det.pt", score_thresh=0.05, min_size=128, max_size=256)
    image = draw_scene([(120, 130, 110, ALICE), (470, 150, 100, BELLA)], size=(600, 300))
    det = TorchDetector(tmp_path / "det.pt", device="cpu", threshold=0.0, min_size=0, tile=256, tile_overlap=0.25)
    tiles = tile_grid(600, 300, 256, 0.25)
    assert len(tiles) == 6
    expected = merge_detections(
        _run(net, image),
        tiles,
        [_run(net, np.ascontiguousarray(image[y0:y1, x0:x1])) for x0, y0, x1, y1 in tiles],
        600,
        300,
    )
    faces = det.detect(image)
    assert len(faces) == len(expected) > len(_run(net, image))
    assert [f.score for f in faces] == pytest.approx(expected[:, 4].tolist(), rel=1e-5)
    assert all(0 <= f.box[0] <= f.box[2] <= 600 and 0 <= f.box[1] <= f.box[3] <= 300 for f in faces)
    # a picture no longer than a tile is not tiled; a batch gives each picture's own answer
    small = np.ascontiguousarray(image[:200, :250])
    assert det.detect(small) == TorchDetector(tmp_path / "det.pt", device="cpu", threshold=0.0, min_size=0).detect(
        small
    )
    batch = det.detect_batch([image, small, image])  # the two 600×300 pictures share one forward pass
    assert batch[1] == det.detect(small) and len(batch[0]) == len(batch[2]) == len(faces)
    assert [f.score for f in batch[2]] == pytest.approx([f.score for f in faces], abs=1e-4)


def test_settings_and_spec_options_reach_the_detector(tmp_path):
    _checkpoint(tmp_path / "det.pt")
    det = build_detector(
        DetectorSettings(
            checkpoint=str(tmp_path / "det.pt"),
            device="cpu",
            input_side=640,
            max_upscale=1.5,
            tile=800,
            tile_overlap=0.2,
        )
    )
    assert (det.input_side, det.max_upscale, det.tile, det.tile_overlap) == (640, 1.5, 800, 0.2)
    # the settings a detector reports are the ones that change its boxes: the box cache keys on them
    assert det.settings() == {"threshold": 0.5, "min_size": 8, "input_side": 640, "max_upscale": 1.5,
                              "size_thresholds": [0.5, 0.525, 0.525, 0.6], "tile": 800, "tile_overlap": 0.2}
    untiled = build_detector(DetectorSettings(checkpoint=str(tmp_path / "det.pt"), device="cpu", input_side=640,
                                              max_upscale=1.5))  # fmt: skip
    assert detector_key(untiled) != detector_key(det) and detector_key(untiled).startswith("tiny {")
    assert parse_detector_options("torch:shipped:x.pt?input_side=768&max_upscale=2.5&tile=null") == (
        "torch",
        "shipped:x.pt",
        {"input_side": 768, "max_upscale": 2.5, "tile": None},
    )
    assert parse_detector_options("animeface") == ("animeface", None, {})
    with pytest.raises(ConfigError, match="detector option 'side=3'"):
        parse_detector_options("torch:x.pt?side=3")
    with pytest.raises(ConfigError, match="input_side"):
        TorchDetector(tmp_path / "det.pt", input_side=8)
