"""The `onnx` backends: kaobot exports run with onnxruntime give torch's faces and vectors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from torchvision.ops import box_iou

from recognition import build_recognizer
from recognition.checkpoints import save_checkpoint
from recognition.config import DetectorSettings, EmbedderSettings, Settings
from recognition.detect import build_detector
from recognition.detect.nets import build_detection_net
from recognition.detect.onnx_backend import OnnxDetector
from recognition.detect.torch_backend import TorchDetector
from recognition.embed import build_embedder
from recognition.embed.nets import build_embedding_net
from recognition.embed.onnx_backend import OnnxEmbedder
from recognition.embed.torch_backend import TorchEmbedder
from recognition.errors import ConfigError, ModelFileError
from recognition.faces import Face
from recognition.images import ImageLimits, decode_image
from tools.make_examples import ALICE, BELLA, CARLA, EXAMPLES, EXAMPLES_DIR
from training.drawing import draw_scene
from training.export import export_onnx

EMB_META = {"input_size": 64, "margin": 0.2, "mean": [0.5, 0.45, 0.4], "std": [0.25, 0.2, 0.3], "dim": 32}
DET_KWARGS = {"min_size": 96, "max_size": 160, "score_thresh": 0.3}


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    """A small embedder and detector checkpoint (random weights) and their ONNX exports."""
    root = tmp_path_factory.mktemp("onnx-rt")
    torch.manual_seed(0)
    emb = build_embedding_net("mobilefacenet", dim=32, width=0.25)
    save_checkpoint(root / "emb.pt", kind="embedder", model_id="test-mfn-onnx", arch="mobilefacenet",
                    arch_kwargs={"dim": 32, "width": 0.25}, meta=EMB_META, state_dict=emb.state_dict())
    det = build_detection_net("fcos_tiny", **DET_KWARGS)
    with torch.no_grad():  # spread the scores and keep boxes well-formed, so matching them means something
        head = det.head
        head.classification_head.cls_logits.weight.mul_(10)
        head.classification_head.cls_logits.bias.zero_()
        head.regression_head.bbox_reg.weight.mul_(0.05)
        head.regression_head.bbox_reg.bias.fill_(1.0)
    save_checkpoint(root / "det.pt", kind="detector", model_id="test-fcos-onnx", arch="fcos_tiny",
                    arch_kwargs=DET_KWARGS, meta={"trained_on": "nothing"}, state_dict=det.state_dict())
    for name in ("emb", "det"):
        export_onnx(root / f"{name}.pt", root / f"{name}.onnx")
    return root


def _example_faces() -> list[tuple[np.ndarray, list[Face]]]:
    out = []
    for name, (placed, _, _) in EXAMPLES.items():
        image = decode_image((EXAMPLES_DIR / name).read_bytes(), ImageLimits())
        boxes = [Face((int(cx - 0.45 * s), int(cy - 0.3 * s), int(cx + 0.45 * s), int(cy + 0.55 * s)), 1.0)
                 for cx, cy, s, _ in placed]
        out.append((image, boxes))
    return out


def test_onnx_embedder_matches_torch_on_the_examples(models):
    torch_emb, onnx_emb = TorchEmbedder(models / "emb.pt", device="cpu"), OnnxEmbedder(models / "emb.onnx", "cpu")
    assert onnx_emb.model_id == torch_emb.model_id == "test-mfn-onnx" and onnx_emb.dim == 32
    assert (onnx_emb.input_size, onnx_emb.margin, onnx_emb.mean, onnx_emb.std) == (64, 0.2, EMB_META["mean"],
                                                                                  EMB_META["std"])
    for image, faces in _example_faces():
        ref, got = torch_emb.embed(image, faces), onnx_emb.embed(image, faces)
        assert got.shape == (len(faces), 32) and got.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
        assert np.all(np.sum(ref * got, axis=1) > 0.999)
        assert not np.allclose(got[0], onnx_emb.embed(image[::-1].copy(), faces)[0], atol=1e-3)  # depends on the picture


def test_onnx_embedder_batches_of_any_size(models):
    emb = OnnxEmbedder(models / "emb.onnx", "cpu", batch_size=2)
    image, faces = _example_faces()[3]
    faces = (faces * 3)[:5]  # batches of 2, 2 and 1
    one_by_one = np.concatenate([emb.embed(image, [f]) for f in faces])
    np.testing.assert_allclose(emb.embed(image, faces), one_by_one, atol=1e-5)
    assert emb.embed(image, []).shape == (0, 32)


@pytest.mark.parametrize("size", [(420, 280), (300, 400), (160, 160), (1024, 1024), (97, 300)])
def test_onnx_detector_matches_torch(models, size):
    torch_det = TorchDetector(models / "det.pt", device="cpu", threshold=0.4, min_size=2)
    onnx_det = OnnxDetector(models / "det.onnx", device="cpu", threshold=0.4, min_size=2)
    assert onnx_det.model_id == torch_det.model_id == "test-fcos-onnx"
    w, h = size
    image = draw_scene([(w // 3, h // 2, min(size) // 2, ALICE), (2 * w // 3, h // 2, min(size) // 3, BELLA)], size=size)
    ref, got = torch_det.detect(image), onnx_det.detect(image)
    assert len(got) == len(ref) > 3
    iou = box_iou(torch.tensor([f.box for f in ref], dtype=torch.float), torch.tensor([f.box for f in got], dtype=torch.float))
    assert (iou.diagonal() > 0.9).all()  # both lists are in decreasing score order: face i matches face i
    assert [f.score for f in got] == pytest.approx([f.score for f in ref], abs=1e-4)
    assert all(0 <= f.box[0] < f.box[2] <= w and 0 <= f.box[1] < f.box[3] <= h for f in got)


def test_onnx_detector_threshold_and_min_size(models):
    image = draw_scene([(200, 140, 140, CARLA)], size=(420, 280))
    every = OnnxDetector(models / "det.onnx", "cpu", threshold=0.0, min_size=0).detect(image)
    kept = OnnxDetector(models / "det.onnx", "cpu", threshold=0.45, min_size=12).detect(image)
    expected = [f for f in every if f.score >= 0.45 and min(f.width, f.height) >= 12]
    assert kept == expected and 0 < len(kept) < len(every)


async def test_gallery_enrolled_with_torch_identifies_with_onnx(models, tmp_path, alice_png, alice_png_2, bella_png):
    def settings(backend: str, suffix: str) -> Settings:
        s = Settings(data_dir=str(tmp_path))
        s.embedder = EmbedderSettings(backend=backend, checkpoint=str(models / f"emb.{suffix}"), device="cpu")
        return s

    rec = build_recognizer(settings("torch", "pt"))
    try:
        await rec.enroll("Alice", alice_png, "g")
        await rec.enroll("Bella", bella_png, "g")
        expected = (await rec.identify(alice_png_2, "g")).faces
    finally:
        await rec.gallery.close()
    rec = build_recognizer(settings("onnx", "onnx"))
    try:
        assert isinstance(rec.embedder, OnnxEmbedder)
        assert await rec.stale_models("g") == {}
        (face,) = (await rec.identify(alice_png_2, "g")).faces
        assert [c.name for c in face.candidates] == [c.name for c in expected[0].candidates] == ["Alice", "Bella"]
        assert face.similarity == pytest.approx(expected[0].similarity, abs=1e-3)
    finally:
        await rec.gallery.close()


def test_build_onnx_backends_from_settings(models):
    det = build_detector(DetectorSettings(backend="onnx", checkpoint=str(models / "det.onnx"), device="cpu",
                                          threshold=0.6, min_size=30))
    assert isinstance(det, OnnxDetector) and (det.threshold, det.min_size) == (0.6, 30)
    assert isinstance(build_embedder(EmbedderSettings(backend="onnx", checkpoint=str(models / "emb.onnx"))),
                      OnnxEmbedder)
    with pytest.raises(ConfigError, match="embedder.checkpoint"):
        build_embedder(EmbedderSettings(backend="onnx"))
    with pytest.raises(ConfigError, match="detector.checkpoint"):
        build_detector(DetectorSettings(backend="onnx"))
    with pytest.raises(ConfigError, match="valid: baseline, torch, onnx"):
        build_embedder(EmbedderSettings(backend="tensorrt"))
    with pytest.raises(ConfigError, match="valid: animeface, torch, onnx, yolo_onnx"):
        build_detector(DetectorSettings(backend="tensorrt"))
    if "CUDAExecutionProvider" not in __import__("onnxruntime").get_available_providers():
        with pytest.raises(ConfigError, match="CUDA"):
            OnnxEmbedder(models / "emb.onnx", device="cuda")


def test_bad_files_raise_model_file_errors_naming_the_file(models, tmp_path):
    with pytest.raises(ModelFileError, match="not found: .*missing.onnx"):
        OnnxEmbedder(tmp_path / "missing.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    with pytest.raises(ModelFileError, match="junk.onnx is not a valid ONNX model"):
        OnnxDetector(tmp_path / "junk.onnx")
    with pytest.raises(ModelFileError, match="emb.pt is not a valid ONNX model"):
        OnnxEmbedder(models / "emb.pt")  # a torch checkpoint, not an export
    with pytest.raises(ModelFileError, match="det.onnx holds a kaobot detector, not a kaobot embedder"):
        OnnxEmbedder(models / "det.onnx")
    with pytest.raises(ModelFileError, match="emb.onnx holds a kaobot embedder, not a kaobot detector"):
        OnnxDetector(models / "emb.onnx")
    model = onnx.load(str(models / "emb.onnx"))
    del model.metadata_props[:]  # a valid ONNX model, but not written by `kaobot export onnx`
    onnx.save(model, str(tmp_path / "plain.onnx"))
    with pytest.raises(ModelFileError, match="plain.onnx has no kaobot metadata"):
        OnnxEmbedder(tmp_path / "plain.onnx")


def test_incomplete_metadata_is_reported(models, tmp_path):
    model = onnx.load(str(models / "det.onnx"))
    kept = [p for p in model.metadata_props if p.key != "resize"]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    onnx.save(model, str(tmp_path / "old.onnx"))
    with pytest.raises(ModelFileError, match="old.onnx lacks valid 'resize' metadata"):
        OnnxDetector(tmp_path / "old.onnx")
    model = onnx.load(str(models / "emb.onnx"))
    for p in model.metadata_props:
        if p.key == "meta":
            p.value = '{"input_size": 64}'
    onnx.save(model, str(tmp_path / "partial.onnx"))
    with pytest.raises(ModelFileError, match="partial.onnx has incomplete embedder metadata"):
        OnnxEmbedder(tmp_path / "partial.onnx")


def test_the_shipped_detector_exports_and_finds_the_same_faces(tmp_path):
    """`kaobot export onnx shipped:detector-fcos-icf512.pt` gives a `detector.backend: onnx` file that finds
    the default detector's faces on the README's examples."""
    export_onnx("shipped:detector-fcos-icf512.pt", tmp_path / "det.onnx")
    torch_det = build_detector(DetectorSettings(device="cpu"))
    onnx_det = build_detector(DetectorSettings(backend="onnx", checkpoint=str(tmp_path / "det.onnx"), device="cpu"))
    assert onnx_det.model_id == torch_det.model_id
    for name in ("pair.png", "alice.png"):
        image = decode_image((EXAMPLES_DIR / name).read_bytes(), ImageLimits())
        ref, got = torch_det.detect(image), onnx_det.detect(image)
        assert len(got) == len(ref) >= 1
        for a, b in zip(ref, got):
            assert np.abs(np.subtract(a.box, b.box)).max() <= 1 and b.score == pytest.approx(a.score, abs=1e-3)
