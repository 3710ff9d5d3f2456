"""The default models' twins: shipped, current, run without torch, and equal to the torch path."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from recognition.config import DetectorSettings, EmbedderSettings
from recognition.detect import build_detector
from recognition.detect.onnx_backend import OnnxDetector
from recognition.detect.torch_backend import TorchDetector
from recognition.embed import build_embedder
from recognition.embed.fusion import FusionEmbedder
from recognition.embed.onnx_backend import OnnxEmbedder
from recognition.embed.projected import ProjectedEmbedder
from recognition.embed.torch_backend import TorchEmbedder
from recognition.images import ImageLimits, decode_image
from recognition.onnx_models import load_npz_twin, open_onnx_twin
from recognition.weights import DEFAULT_DETECTOR, DEFAULT_EMBEDDER, HEAD_EMBEDDER, WEIGHTS_DIR, resolve_model_path
from tools.export_cli import default_checkpoints, twin_status, write_twin

ROOT = Path(__file__).resolve().parents[1]
PICTURES = [ROOT / "examples" / n for n in ("pair.png", "alice.png", "bella.png")]

NO_TORCH = r"""
import json, sys
import numpy as np
from recognition.config import DetectorSettings, EmbedderSettings
from recognition.detect import build_detector
from recognition.embed import build_embedder
from recognition.images import ImageLimits, decode_image
detector, embedder = build_detector(DetectorSettings(device="cpu")), build_embedder(EmbedderSettings(device="cpu"))
image = decode_image(open(sys.argv[1], "rb").read(), ImageLimits())
faces = detector.detect(image)
vectors = embedder.embed(image, faces)
print(json.dumps({"torch": "torch" in sys.modules, "faces": len(faces), "dim": int(vectors.shape[1]),
                  "model_id": embedder.model_id}))
"""


def test_the_default_models_have_current_twins():
    """Fails when a shipped checkpoint was replaced without `kaobot export twins`."""
    assert default_checkpoints() == [DEFAULT_DETECTOR, DEFAULT_EMBEDDER, HEAD_EMBEDDER]
    for status in map(twin_status, default_checkpoints()):
        assert status["current"], f"{status['twin']} is stale or missing: run `kaobot export twins`"


def test_the_default_pipeline_never_imports_torch():
    out = subprocess.run(
        [sys.executable, "-c", NO_TORCH, str(PICTURES[0])],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
        timeout=120,
    ).stdout
    found = json.loads(out)
    assert found["torch"] is False and found["faces"] == 2
    assert found["model_id"] == build_embedder(EmbedderSettings(device="cpu")).model_id


@pytest.fixture(scope="module")
def torch_copies(tmp_path_factory) -> Path:
    """The default checkpoints copied where they have no twin: the torch path."""
    root = tmp_path_factory.mktemp("no-twin")
    for spec in (DEFAULT_DETECTOR, DEFAULT_EMBEDDER):
        shutil.copyfile(resolve_model_path(spec), root / resolve_model_path(spec).name)
    return root


def test_twin_detector_finds_the_torch_faces(torch_copies):
    twin = build_detector(DetectorSettings(device="cpu"))
    torch_path = build_detector(
        DetectorSettings(device="cpu", checkpoint=str(torch_copies / "detector-fcos-icf512.pt"))
    )
    assert isinstance(twin, OnnxDetector) and isinstance(torch_path, TorchDetector)
    assert twin.model_id == torch_path.model_id and twin.meta == json.loads(json.dumps(torch_path.meta, default=str))
    for picture in PICTURES:
        image = decode_image(picture.read_bytes(), ImageLimits())
        got, want = twin.detect(image), torch_path.detect(image)
        assert len(got) == len(want) > 0
        for a, b in zip(sorted(got, key=lambda f: f.box), sorted(want, key=lambda f: f.box)):
            assert np.abs(np.subtract(a.box, b.box)).max() <= 1  # clipped boxes are whole pixels
            assert abs(a.score - b.score) < 1e-3


def test_twin_embedder_gives_the_torch_vectors(torch_copies):
    twin = build_embedder(EmbedderSettings(device="cpu"))
    torch_path = FusionEmbedder(torch_copies / "embedder-lite0-fused.pt", device="cpu")
    assert isinstance(twin.learned, OnnxEmbedder) and isinstance(torch_path.learned, TorchEmbedder)
    assert twin.model_id == torch_path.model_id  # galleries enrolled with either stay valid
    assert (twin.dim, twin.weight, twin.threshold) == (torch_path.dim, torch_path.weight, torch_path.threshold)
    detector = build_detector(DetectorSettings(device="cpu"))
    for picture in PICTURES:
        image = decode_image(picture.read_bytes(), ImageLimits())
        faces = detector.detect(image)
        got, want = twin.embed(image, faces), torch_path.embed(image, faces)
        assert got.shape == want.shape == (len(faces), twin.dim)
        assert np.abs(got - want).max() < 1e-4
        assert np.min(np.sum(got * want, axis=1)) > 0.99999


def test_the_head_twin_holds_the_checkpoint_weights():
    payload = load_npz_twin(HEAD_EMBEDDER, "embedder")
    assert payload is not None and payload["arch"] == "baseline-projection"
    twin = ProjectedEmbedder(HEAD_EMBEDDER)
    import torch

    state = torch.load(resolve_model_path(HEAD_EMBEDDER), weights_only=True)["state_dict"]
    for key, value in twin.weights.items():
        assert value.dtype == np.float32 and np.array_equal(value, state[key].float().numpy())


def test_a_twin_not_made_from_its_checkpoint_is_ignored(tmp_path, caplog):
    """Another checkpoint under the twin's name: the twin's hash does not match, torch runs it."""
    shutil.copyfile(WEIGHTS_DIR / "detector-fcos-icf384.pt", tmp_path / "d.pt")
    shutil.copyfile(WEIGHTS_DIR / "detector-fcos-icf512.onnx", tmp_path / "d.onnx")
    with caplog.at_level(logging.WARNING):
        detector = build_detector(DetectorSettings(device="cpu", checkpoint=str(tmp_path / "d.pt")))
    assert isinstance(detector, TorchDetector) and "kaobot export twins" in caplog.text
    assert twin_status(str(tmp_path / "d.pt"))["current"] is False
    assert open_onnx_twin(DEFAULT_DETECTOR, "detector", "cuda") is None  # torch runs what asks for CUDA


def test_export_twins_writes_a_current_twin(tmp_path):
    """A head copied elsewhere gets its `.npz` twin; a network its `.onnx` twin, checked against torch."""
    shutil.copyfile(resolve_model_path(HEAD_EMBEDDER), tmp_path / "head.pt")
    assert twin_status(str(tmp_path / "head.pt"))["twin"] is None
    written = write_twin(str(tmp_path / "head.pt"))
    assert written["twin"].endswith("head.npz") and twin_status(str(tmp_path / "head.pt"))["current"]
    assert ProjectedEmbedder(tmp_path / "head.pt").model_id == ProjectedEmbedder(HEAD_EMBEDDER).model_id
    (tmp_path / "head.pt").write_bytes((tmp_path / "head.pt").read_bytes() + b"\0")  # no longer its source
    assert load_npz_twin(tmp_path / "head.pt", "embedder") is None


@pytest.mark.slow
def test_export_twins_of_a_network(tmp_path):
    shutil.copyfile(resolve_model_path(DEFAULT_DETECTOR), tmp_path / "det.pt")
    written = write_twin(str(tmp_path / "det.pt"))
    assert written["max_abs_diff"] < 1e-3 and twin_status(str(tmp_path / "det.pt"))["current"]
    assert isinstance(build_detector(DetectorSettings(device="cpu", checkpoint=str(tmp_path / "det.pt"))), OnnxDetector)
