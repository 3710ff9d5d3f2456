"""Re-embedding from stored crops and in-place rewrites, on every gallery backend."""

from __future__ import annotations

import numpy as np
import pytest

from recognition.embed.baseline import BaselineEmbedder
from recognition.faces import Face, clip_box
from recognition.gallery import FaceRecord
from recognition.images import decode_image, encode_jpeg
from recognition.maintenance import reembed_gallery
from recognition.preprocess import crop_face, face_box_in_crop
from recognition.service import CROP_MARGIN, CROP_SIZE
from training.drawing import draw_scene

from .conftest import ALICE, BELLA
from .gallery_backends import BACKEND_PARAMS, BACKENDS


@pytest.fixture(params=BACKEND_PARAMS)
async def gallery(request, tmp_path):
    g = await BACKENDS[request.param](request, tmp_path)
    yield g
    await g.close()


@pytest.mark.parametrize("box", [(150, 120, 250, 220), (40, 60, 120, 190), (300, 10, 390, 60)])
def test_face_box_in_crop_inverts_the_crop_window(box):
    image = draw_scene([(200, 200, 170, ALICE), (330, 60, 90, BELLA)], size=(420, 400))
    crop = crop_face(image, box, margin=CROP_MARGIN, size=CROP_SIZE)
    inner = face_box_in_crop(box, margin=CROP_MARGIN, size=CROP_SIZE)
    again = crop_face(crop, inner, margin=0.1, size=48).astype(np.float32)
    direct = crop_face(image, box, margin=0.1, size=48).astype(np.float32)
    assert np.abs(again - direct).mean() < 4.0  # two resamplings of the same pixels
    shifted = crop_face(image, (box[0] + 15, box[1], box[2] + 15, box[3]), margin=0.1, size=48).astype(np.float32)
    assert np.abs(shifted - direct).mean() > 3 * np.abs(again - direct).mean()


def _stored_face(embedder, style, cx, cy, size, *, model, with_crop=True, scope="g1", name=None):
    """A face as `Recognizer.enroll` stores it, and the embedder's vector of it on the full picture."""
    image = draw_scene([(cx, cy, size, style)], size=(420, 400))
    box = clip_box((cx - size / 2, cy - size / 2, cx + size / 2, cy + size / 2), 420, 400)
    fresh = embedder.embed(image, [Face(box, 1.0)])[0]
    crop = encode_jpeg(crop_face(image, box, margin=CROP_MARGIN, size=CROP_SIZE), quality=90)
    old_vector = np.random.default_rng(cx).normal(size=embedder.dim).astype(np.float32)
    vector = old_vector if model != embedder.model_id else fresh
    record = FaceRecord(
        scope, name or f"{style.hair}", model, vector, f"pic-{cx}-{cy}-{size}", box, crop if with_crop else None
    )
    return record, fresh


async def test_reembed_replaces_stale_faces_from_their_crops(gallery):
    embedder = BaselineEmbedder()
    alice, alice_fresh = _stored_face(embedder, ALICE, 200, 200, 170, model="old-model", name="Alice")
    bella, bella_fresh = _stored_face(embedder, BELLA, 210, 190, 150, model="old-model", name="Bella")
    current, _ = _stored_face(embedder, BELLA, 190, 210, 140, model=embedder.model_id, name="Bella")
    no_crop, _ = _stored_face(embedder, ALICE, 220, 180, 120, model="old-model", with_crop=False, name="Alice")
    await gallery.add([alice, bella, current, no_crop])
    await gallery.set_character_info("g1", "Alice", series="Show")

    summary = await reembed_gallery(gallery, embedder, batch_size=3)
    assert (summary.faces, summary.reembedded, summary.current, summary.without_crop) == (4, 2, 1, 1)
    assert await gallery.model_ids() == {embedder.model_id: 3, "old-model": 1}
    assert await gallery.count("g1") == 4
    (hits,) = await gallery.search(alice_fresh, "g1", embedder.model_id, k=2)
    assert hits[0].name == "Alice" and hits[0].series == "Show"
    # The crop's vector is the full picture's up to JPEG, resampling and the context the crop lacks
    # (measured 0.967; a box 8 px off inside the crop gives 0.94, the other character 0.62).
    assert hits[0].similarity > 0.95 and hits[1].similarity < 0.8
    (hits,) = await gallery.search(bella_fresh, "g1", embedder.model_id, k=1)
    assert hits[0].name == "Bella" and hits[0].similarity > 0.95
    stored = {r.id: r for batch in [b async for b in gallery.records()] for r in batch}
    (new_alice,) = [r for r in stored.values() if r.name == "Alice" and r.model_id == embedder.model_id]
    assert new_alice.crop == alice.crop and new_alice.box == alice.box and new_alice.source_hash == alice.source_hash
    assert decode_image(new_alice.crop).shape == (CROP_SIZE, CROP_SIZE, 3)

    again = await reembed_gallery(gallery, embedder, drop_without_crop=True)
    assert (again.reembedded, again.current, again.dropped) == (0, 3, 1)
    assert await gallery.model_ids() == {embedder.model_id: 3}


async def test_rewrite_in_batches_sees_each_face_once(gallery):
    records = [
        FaceRecord("g1", f"C{i}", "m1", np.eye(8, dtype=np.float32)[i % 8], f"s{i}", (0, 0, 1 + i, 1 + i))
        for i in range(9)
    ]
    await gallery.add(records)

    async def bump(batch):
        return [FaceRecord(r.scope, r.name, "m2", r.vector, r.source_hash, r.box) for r in batch]

    seen = []
    summary = await gallery.rewrite(bump, batch_size=2, progress=seen.append)
    assert (summary.seen, summary.replaced, summary.kept, summary.dropped) == (9, 9, 0, 0)
    assert sum(seen) == 9
    assert await gallery.model_ids() == {"m2": 9}


def test_cli_reembed(tmp_path, capsys):
    import asyncio

    from recognition.config import EmbedderSettings
    from recognition.embed import build_embedder
    from recognition.gallery.sqlite import SQLiteGallery
    from tools import cli

    embedder = build_embedder(EmbedderSettings())  # the default embedder, which the CLI uses
    alice, _ = _stored_face(embedder, ALICE, 200, 200, 170, model="old-model", name="Alice")
    data = tmp_path / "data"

    async def seed():
        async with SQLiteGallery(data / "gallery.sqlite3") as g:
            await g.add([alice])

    asyncio.run(seed())
    assert cli.main(["gallery", "reembed", "--data-dir", str(data), "--quiet"]) == 0
    assert f"1 face(s): 1 re-embedded with {embedder.model_id!r}" in capsys.readouterr().out
    assert cli.main(["gallery", "reembed", "--data-dir", str(data), "--quiet"]) == 0
    assert "nothing to do" in capsys.readouterr().out
