"""The fused embedder: weighted learned + baseline similarity, its own model id, built from settings."""

from __future__ import annotations

import numpy as np
import pytest

from recognition.config import EmbedderSettings
from recognition.embed import build_embedder
from recognition.embed.baseline import BaselineEmbedder
from recognition.embed.fusion import FusionEmbedder
from recognition.embed.torch_backend import TorchEmbedder
from recognition.faces import Face

from .test_embed import _write_embedder


def test_fused_similarity_is_the_weighted_mean_of_both(tmp_path):
    ckpt = tmp_path / "e.pt"
    _write_embedder(ckpt)
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (96, 96, 3), dtype=np.uint8) for _ in range(2)]
    faces = [Face((20, 20, 76, 76), 1.0)]
    fused = FusionEmbedder(ckpt, weight=0.3, device="cpu")
    learned, baseline = TorchEmbedder(ckpt, device="cpu"), BaselineEmbedder()
    a, b = (fused.embed(img, faces)[0] for img in images)
    assert a.shape == (fused.dim,) and np.linalg.norm(a) == pytest.approx(1.0, abs=1e-5)
    cos_l = float(learned.embed(images[0], faces)[0] @ learned.embed(images[1], faces)[0])
    cos_b = float(baseline.embed(images[0], faces)[0] @ baseline.embed(images[1], faces)[0])
    assert float(a @ b) == pytest.approx(0.3 * cos_l + 0.7 * cos_b, abs=1e-5)
    assert fused.model_id == f"fusion-w0.3-{learned.model_id}+{baseline.model_id}"
    assert fused.model_id != FusionEmbedder(ckpt, weight=0.5, device="cpu").model_id
    assert fused.embed(images[0], []).shape == (0, fused.dim)
    with pytest.raises(ValueError):
        FusionEmbedder(ckpt, weight=1.0)


def test_fusion_backend_from_settings(tmp_path):
    ckpt = tmp_path / "e.pt"
    _write_embedder(ckpt)
    emb = build_embedder(EmbedderSettings(backend="fusion", checkpoint=str(ckpt), device="cpu", fusion_weight=0.4))
    assert isinstance(emb, FusionEmbedder) and emb.weight == 0.4
    default = build_embedder(EmbedderSettings(backend="fusion", device="cpu"))  # no checkpoint: the shipped one
    assert default.model_id == build_embedder(EmbedderSettings(device="cpu")).model_id
    assert default.learned.flip and default.weight == 0.5 and default.threshold == 0.6138 and default.learned.input_size == 160
