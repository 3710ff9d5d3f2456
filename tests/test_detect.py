import numpy as np
import pytest
import torch

from recognition.checkpoints import save_checkpoint
from recognition.config import DetectorSettings
from recognition.detect import Detector, build_detector
from recognition.detect.animeface_backend import AnimefaceDetector
from recognition.detect.nets import build_detection_net
from recognition.detect.onnx_backend import OnnxDetector
from recognition.detect.torch_backend import TorchDetector
from recognition.errors import ConfigError, ModelFileError
from training.drawing import draw_face, draw_scene

from .conftest import ALICE, BELLA


def test_animeface_finds_drawn_faces_with_parts():
    det = AnimefaceDetector()
    assert isinstance(det, Detector)
    faces = det.detect(draw_scene([(180, 200, 180, ALICE), (520, 210, 160, BELLA)], size=(700, 400)))
    assert len(faces) == 2
    left = min(faces, key=lambda f: f.box[0])
    assert left.box[0] < 180 < left.box[2] and left.score > 0.9
    assert left.parts.hair_color is not None and left.parts.left_eye is not None


def test_animeface_no_face_on_blank_picture():
    assert AnimefaceDetector().detect(np.full((200, 300, 3), 240, np.uint8)) == []


def test_padding_finds_tight_crops():
    canvas = np.full((400, 400, 3), 235, np.uint8)
    draw_face(canvas, 200, 200, 200, ALICE)
    tight = np.ascontiguousarray(canvas[150:270, 150:250])  # eyes to chin, cheek to cheek
    assert AnimefaceDetector(pad=0.0).detect(tight) == []
    faces = AnimefaceDetector(pad=0.25).detect(tight)
    assert len(faces) == 1
    fx1, fy1, fx2, fy2 = faces[0].box
    assert 0 <= fx1 < fx2 <= tight.shape[1] and 0 <= fy1 < fy2 <= tight.shape[0]


def test_min_size_and_threshold_filter():
    image = draw_scene([(100, 100, 60, ALICE), (400, 200, 200, BELLA)], size=(600, 400))
    assert len(AnimefaceDetector(min_size=16).detect(image)) == 2
    assert len(AnimefaceDetector(min_size=100).detect(image)) == 1
    assert AnimefaceDetector(threshold=1.01).detect(image) == []


def test_large_pictures_are_scaled_down_and_boxes_mapped_back():
    image = draw_scene([(1000, 800, 500, ALICE)], size=(2000, 1400))
    faces = AnimefaceDetector(max_side=700).detect(image)
    assert len(faces) == 1
    x1, y1, x2, y2 = faces[0].box
    assert x1 < 1000 < x2 and y1 < 800 < y2 and (x2 - x1) > 300


def _tiny_detector_checkpoint(path, **arch_kwargs):
    torch.manual_seed(0)
    net = build_detection_net("fcos_tiny", **arch_kwargs)
    save_checkpoint(
        path,
        kind="detector",
        model_id="test-fcos-tiny",
        arch="fcos_tiny",
        arch_kwargs=arch_kwargs,
        meta={"trained_on": "nothing"},
        state_dict=net.state_dict(),
    )
    return net


def test_torch_detector_loads_checkpoint_and_matches_network(tmp_path):
    path = tmp_path / "det.pt"
    net = _tiny_detector_checkpoint(path, score_thresh=0.0, min_size=128, max_size=256)
    det = TorchDetector(path, device="cpu", threshold=0.0, min_size=0)
    assert det.model_id == "test-fcos-tiny"
    image = draw_scene([(150, 120, 100, ALICE)], size=(300, 240))
    faces = det.detect(image)
    net.eval()
    with torch.no_grad():
        expected = net([torch.from_numpy(image.transpose(2, 0, 1).copy()).float() / 255])[0]
    assert len(faces) == len(expected["boxes"]) > 0
    for f, box, score in zip(faces, expected["boxes"].tolist(), expected["scores"].tolist()):
        assert f.box == tuple(round(v) for v in box) and f.score == pytest.approx(score)
        assert 0 <= f.box[0] <= f.box[2] <= 300 and 0 <= f.box[1] <= f.box[3] <= 240


def test_torch_detector_fp16_checkpoint(tmp_path):
    path = tmp_path / "det16.pt"
    net = build_detection_net("fcos_tiny")
    save_checkpoint(
        path,
        kind="detector",
        model_id="half",
        arch="fcos_tiny",
        arch_kwargs={},
        meta={},
        state_dict=net.state_dict(),
        half=True,
    )
    det = TorchDetector(path, device="cpu")
    assert isinstance(det.detect(np.zeros((64, 64, 3), np.uint8)), list)


def test_missing_model_file_names_the_file(tmp_path):
    with pytest.raises(ModelFileError, match="det-missing.pt"):
        TorchDetector(tmp_path / "det-missing.pt")


def test_corrupt_model_file(tmp_path):
    path = tmp_path / "corrupt.pt"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(ModelFileError, match="corrupt.pt"):
        TorchDetector(path)


def test_shipped_models_are_named_by_file(tmp_path):
    shipped = TorchDetector("shipped:detector-fcos-icf512.pt", device="cpu")
    assert shipped.model_id == build_detector(DetectorSettings(device="cpu")).model_id
    with pytest.raises(ModelFileError, match="no shipped model 'detector-v9.pt'; shipped: detector-fcos-icf384.pt, detector-fcos-icf512.pt, "):
        TorchDetector("shipped:detector-v9.pt")


def test_embedder_checkpoint_is_not_a_detector(tmp_path):
    path = tmp_path / "emb.pt"
    save_checkpoint(path, kind="embedder", model_id="x", arch="mobilefacenet", arch_kwargs={}, meta={}, state_dict={})
    with pytest.raises(ModelFileError, match="not a kaobot-detector"):
        TorchDetector(path)


def test_build_detector_from_settings(tmp_path):
    default = build_detector(DetectorSettings(device="cpu"))
    # the shipped checkpoint runs on its ONNX twin (tests/test_twins.py), with the checkpoint's model id
    assert isinstance(default, OnnxDetector) and default.model_id == "kaobot-fcos_mobilenet_p3-0442383f9e"
    assert isinstance(build_detector(DetectorSettings(backend="animeface")), AnimefaceDetector)
    with pytest.raises(ConfigError, match="checkpoint"):
        build_detector(DetectorSettings(backend="onnx"))
    with pytest.raises(ConfigError, match="valid"):
        build_detector(DetectorSettings(backend="yolo9000"))
    path = tmp_path / "d.pt"
    _tiny_detector_checkpoint(path)
    assert isinstance(
        build_detector(DetectorSettings(backend="torch", checkpoint=str(path), device="cpu")), TorchDetector
    )


def test_cuda_device_refused_without_cuda(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    path = tmp_path / "d.pt"
    _tiny_detector_checkpoint(path)
    with pytest.raises(ConfigError, match="CUDA"):
        TorchDetector(path, device="cuda")
    assert TorchDetector(path, device="auto").device == "cpu"


class _CountingAnimeface(AnimefaceDetector):
    def __init__(self, **kw):
        super().__init__(**kw)
        self.borders: list[int] = []

    def _detect(self, work, border, scale, width, height):
        self.borders.append(border)
        return super()._detect(work, border, scale, width, height)


def test_large_pictures_are_padded_only_when_nothing_is_found():
    det = _CountingAnimeface(pad_below=50)
    assert len(det.detect(draw_scene([(200, 200, 150, ALICE)], size=(700, 400)))) == 1
    assert det.borders == [0]  # found without padding: one pass
    canvas = np.full((400, 400, 3), 235, np.uint8)
    draw_face(canvas, 200, 200, 200, ALICE)
    tight = np.ascontiguousarray(canvas[150:270, 150:250])  # eyes to chin, cheek to cheek
    det.borders.clear()
    assert len(det.detect(tight)) == 1
    assert det.borders[0] == 0 and det.borders[1] > 0  # retried with padding
