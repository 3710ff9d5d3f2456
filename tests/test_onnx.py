"""ONNX: export of kaobot checkpoints, and YOLOv5/YOLOv8 exports as a detector backend."""

from __future__ import annotations

import json
import warnings

import numpy as np
import onnx
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from recognition.checkpoints import save_checkpoint
from recognition.config import DetectorSettings
from recognition.detect import build_detector
from recognition.detect.nets import build_detection_net
from recognition.detect.yolo_onnx_backend import YoloOnnxDetector
from recognition.embed.nets import build_embedding_net
from recognition.errors import ModelFileError
from tools.cli import main


def test_export_embedder_matches_torch(tmp_path, capsys):
    torch.manual_seed(0)
    net = build_embedding_net("mobilefacenet", dim=16, width=0.25, stages=(1, 1, 1)).eval()
    ckpt = save_checkpoint(tmp_path / "emb.pt", kind="embedder", model_id="emb-test", arch="mobilefacenet",
                           arch_kwargs={"dim": 16, "width": 0.25, "stages": (1, 1, 1)},
                           meta={"input_size": 32, "margin": 0.3, "mean": [0.5] * 3, "std": [0.5] * 3, "dim": 16},
                           state_dict=net.state_dict())
    assert main(["export", "onnx", str(ckpt), str(tmp_path / "emb.onnx")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["kind"] == "embedder" and report["max_abs_diff"] < 1e-4
    assert report["checks"][0]["min_cosine"] > 0.9999
    props = {p.key: p.value for p in onnx.load(str(tmp_path / "emb.onnx")).metadata_props}
    assert props["model_id"] == "emb-test" and json.loads(props["meta"])["margin"] == 0.3


def test_export_detector_matches_torch(tmp_path):
    from training.export import export_onnx

    torch.manual_seed(0)
    kwargs = {"min_size": 96, "max_size": 128, "score_thresh": 0.0}
    net = build_detection_net("fcos_tiny", **kwargs)
    ckpt = save_checkpoint(tmp_path / "det.pt", kind="detector", model_id="det-test", arch="fcos_tiny",
                           arch_kwargs=kwargs, meta={}, state_dict=net.state_dict())
    report = export_onnx(ckpt, tmp_path / "det.onnx")
    assert report["kind"] == "detector" and report["max_abs_diff"] < 1e-3
    assert all(c["boxes"] > 0 for c in report["checks"] if "boxes" in c)


class RednessYolo(nn.Module):
    """A real (if simple) YOLO-format detector: red 32×32 windows on a stride-8 grid."""

    def __init__(self, v5: bool = False) -> None:
        super().__init__()
        self.v5 = v5

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        red = x[:, 0:1] - (x[:, 1:2] + x[:, 2:3]) / 2
        score = F.avg_pool2d(red, 32, 8).clamp(0, 1)  # (1, 1, 13, 13)
        n = score.shape[-1]
        centre = 16 + 8 * torch.arange(n, dtype=x.dtype)
        cy, cx = torch.meshgrid(centre, centre, indexing="ij")
        size = torch.full_like(cx, 32.0)
        rows = [cx.flatten(), cy.flatten(), size.flatten(), size.flatten(), score.flatten()]
        if self.v5:
            return torch.stack([*rows, torch.ones_like(rows[0])], 1)[None]  # (1, N, 6)
        return torch.stack(rows, 0)[None]  # (1, 5, N)


@pytest.mark.parametrize("v5", [False, True], ids=["yolov8", "yolov5"])
def test_yolo_onnx_backend_letterboxes_and_maps_boxes_back(tmp_path, v5):
    path = tmp_path / "yolo.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter is deprecated, not gone
        torch.onnx.export(RednessYolo(v5), (torch.zeros(1, 3, 128, 128),), str(path), dynamo=False,
                          input_names=["images"], output_names=["output0"])
    image = np.full((128, 256, 3), 255, np.uint8)  # 256 wide: letterboxed at scale 0.5, 32 px bands
    image[32:96, 96:160] = (255, 0, 0)
    settings = DetectorSettings(backend="yolo_onnx", checkpoint=str(path), threshold=0.6, min_size=8)
    detector = build_detector(settings)
    assert isinstance(detector, YoloOnnxDetector) and detector.input_size == 128
    assert detector.settings() == {"threshold": 0.6, "min_size": 8, "nms_iou": 0.5, "input_size": 128}
    faces = detector.detect(image)
    assert len(faces) == 1  # the 0.75-score neighbours are suppressed by NMS
    assert faces[0].box == (96, 32, 160, 96) and faces[0].score == pytest.approx(1.0)
    assert YoloOnnxDetector(path, threshold=0.6).detect(np.full((100, 100, 3), 255, np.uint8)) == []


def test_yolo_onnx_backend_reports_bad_files(tmp_path):
    with pytest.raises(ModelFileError, match="not found"):
        YoloOnnxDetector(tmp_path / "missing.onnx")
    (tmp_path / "bad.onnx").write_bytes(b"nope")
    with pytest.raises(ModelFileError, match="not a valid ONNX"):
        YoloOnnxDetector(tmp_path / "bad.onnx")
