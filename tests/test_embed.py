import numpy as np
import pytest
import torch

from recognition.checkpoints import save_checkpoint
from recognition.config import EmbedderSettings
from recognition.detect.animeface_backend import AnimefaceDetector
from recognition.embed import Embedder, build_embedder
from recognition.embed.baseline import BaselineEmbedder
from recognition.embed.nets import build_embedding_net
from recognition.embed.torch_backend import TorchEmbedder
from recognition.errors import ModelFileError
from recognition.faces import Face
from training.drawing import draw_scene

from .conftest import ALICE, BELLA, CARLA


def _embed_drawn(embedder, style, cx=200, cy=200, size=170, canvas=(420, 400), background=(235, 235, 235)):
    image = draw_scene([(cx, cy, size, style)], size=canvas, background=background)
    (face,) = AnimefaceDetector().detect(image)
    return embedder.embed(image, [face])[0]


def test_baseline_is_deterministic_normalised_and_has_a_stable_id():
    emb = BaselineEmbedder()
    assert isinstance(emb, Embedder)
    a1 = _embed_drawn(emb, ALICE)
    a2 = _embed_drawn(BaselineEmbedder(), ALICE)
    assert a1.shape == (emb.dim,) and a1.dtype == np.float32
    np.testing.assert_array_equal(a1, a2)
    assert np.linalg.norm(a1) == pytest.approx(1.0, abs=1e-5)
    assert emb.model_id == BaselineEmbedder.model_id


def test_baseline_same_character_is_closer_than_others():
    emb = BaselineEmbedder()
    alice = _embed_drawn(emb, ALICE)
    alice_again = _embed_drawn(emb, ALICE, cx=230, cy=190, size=140, canvas=(460, 380), background=(210, 230, 245))
    bella = _embed_drawn(emb, BELLA)
    carla = _embed_drawn(emb, CARLA)
    same = float(alice @ alice_again)
    assert same > float(alice @ bella) + 0.1
    assert same > float(alice @ carla) + 0.1


def test_baseline_handles_faces_at_the_border_and_no_faces():
    emb = BaselineEmbedder()
    image = np.full((50, 50, 3), 128, np.uint8)
    vectors = emb.embed(image, [Face((0, 0, 50, 50), 1.0), Face((40, 40, 50, 50), 1.0)])
    assert vectors.shape == (2, emb.dim) and np.all(np.isfinite(vectors))
    assert emb.embed(image, []).shape == (0, emb.dim)


def _write_embedder(path, half=False, dim=32):
    torch.manual_seed(0)
    net = build_embedding_net("mobilefacenet", dim=dim, width=0.25)
    net.eval()
    meta = {"input_size": 64, "margin": 0.2, "mean": [0.5] * 3, "std": [0.5] * 3, "dim": dim}
    save_checkpoint(
        path,
        kind="embedder",
        model_id="test-mfn",
        arch="mobilefacenet",
        arch_kwargs={"dim": dim, "width": 0.25},
        meta=meta,
        state_dict=net.state_dict(),
        half=half,
    )
    return net


def test_torch_embedder_matches_its_network(tmp_path):
    path = tmp_path / "emb.pt"
    net = _write_embedder(path)
    emb = TorchEmbedder(path, device="cpu")
    assert emb.model_id == "test-mfn" and emb.dim == 32
    image = draw_scene([(200, 200, 170, ALICE)], size=(420, 400))
    face = Face((115, 150, 285, 300), 1.0)
    got = emb.embed(image, [face])
    crop = emb.crops(image, [face])[0]
    x = torch.from_numpy(crop.astype(np.float32).transpose(2, 0, 1)[None] / 255.0)
    with torch.no_grad():
        ref = net((x - 0.5) / 0.5).numpy()
    ref /= np.linalg.norm(ref, axis=1, keepdims=True)
    np.testing.assert_allclose(got, ref, atol=1e-5)


def test_torch_embedder_fp16_checkpoint_and_batches(tmp_path):
    path = tmp_path / "emb16.pt"
    _write_embedder(path, half=True)
    emb = TorchEmbedder(path, device="cpu", batch_size=2)
    image = np.random.default_rng(0).integers(0, 255, (100, 100, 3), dtype=np.uint8)
    out = emb.embed(image, [Face((10, 10, 40, 40), 1.0)] * 5)
    assert out.shape == (5, 32)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)


def test_checkpoint_with_wrong_metadata(tmp_path):
    path = tmp_path / "bad.pt"
    net = build_embedding_net("mobilefacenet", dim=16, width=0.25)
    save_checkpoint(
        path,
        kind="embedder",
        model_id="x",
        arch="mobilefacenet",
        arch_kwargs={"dim": 32, "width": 0.25},
        meta={"input_size": 64, "margin": 0.2, "mean": [0.5] * 3, "std": [0.5] * 3, "dim": 32},
        state_dict=net.state_dict(),
    )
    with pytest.raises(ModelFileError, match="bad.pt"):
        TorchEmbedder(path)


def test_unknown_architecture_lists_valid_ones():
    with pytest.raises(ValueError, match="mobilefacenet"):
        build_embedding_net("vit-giant")


def test_build_embedder_from_settings(tmp_path):
    from recognition.embed.fusion import FusionEmbedder
    from recognition.embed.projected import ProjectedEmbedder

    default = build_embedder(EmbedderSettings(device="cpu"))
    assert isinstance(default, FusionEmbedder) and default.model_id.startswith("fusion-w0.5-kaobot-arcface-efficientnet")
    assert isinstance(default.base, ProjectedEmbedder) and default.base.model_id.startswith("kaobot-mlp128-fused")
    head = build_embedder(EmbedderSettings(backend="projected"))
    assert isinstance(head, ProjectedEmbedder) and head.model_id == default.base.model_id
    assert isinstance(build_embedder(EmbedderSettings(backend="baseline")), BaselineEmbedder)
    path = tmp_path / "e.pt"
    _write_embedder(path)
    assert isinstance(
        build_embedder(EmbedderSettings(backend="torch", checkpoint=str(path), device="cpu")), TorchEmbedder
    )
    with pytest.raises(ModelFileError, match="missing.pt"):
        build_embedder(EmbedderSettings(backend="torch", checkpoint=str(tmp_path / "missing.pt")))


def test_resnet_architecture_builds():
    net = build_embedding_net("resnet", dim=64, depth=18).eval()
    with torch.no_grad():
        assert net(torch.zeros(2, 3, 64, 64)).shape == (2, 64)


def test_test_time_flip_adds_the_mirrored_crop(tmp_path):
    """`meta["flip"]`: the embedding of a crop is that of the crop plus its mirror image, so a face and
    its mirror get the same vector."""
    path = tmp_path / "emb.pt"
    _write_embedder(path)
    payload = torch.load(path, weights_only=True)
    payload["meta"]["flip"] = True
    torch.save(payload, tmp_path / "flip.pt")
    plain, flipped = TorchEmbedder(path, device="cpu"), TorchEmbedder(tmp_path / "flip.pt", device="cpu")
    rng = np.random.default_rng(3)
    crop = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    mirror = np.ascontiguousarray(crop[:, ::-1])
    a, b = flipped.embed_crops([crop, mirror])
    assert np.allclose(a, b, atol=1e-5)
    expected = plain.embed_crops([crop])[0] + plain.embed_crops([mirror])[0]
    assert np.allclose(a, expected / np.linalg.norm(expected), atol=1e-5)
    assert not np.allclose(plain.embed_crops([crop])[0], a, atol=1e-3)
