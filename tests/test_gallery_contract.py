"""The gallery interface's contract, run against every backend."""

import numpy as np
import pytest

from recognition.errors import UnknownCharacter
from recognition.gallery import FaceRecord, Gallery

from .gallery_backends import BACKEND_PARAMS, BACKENDS

DIM = 8


def vec(*values: float) -> np.ndarray:
    v = np.zeros(DIM, np.float32)
    v[: len(values)] = values
    return v


def rec(
    name: str, vector: np.ndarray, scope: str = "g1", model: str = "m1", source: str | None = None, box=(0, 0, 10, 10)
):
    return FaceRecord(
        scope=scope,
        name=name,
        model_id=model,
        vector=vector,
        source_hash=source or f"{name}-{vector.tobytes().hex()}",
        box=box,
    )


@pytest.fixture(params=BACKEND_PARAMS)
async def gallery(request, tmp_path) -> Gallery:
    g = await BACKENDS[request.param](request, tmp_path)
    yield g
    await g.close()


async def test_add_and_search_ranks_characters_by_their_best_face(gallery):
    await gallery.add([rec("A", vec(1, 0)), rec("A", vec(0.6, 0.8)), rec("B", vec(0, 1)), rec("C", vec(-1, 0))])
    (hits,) = await gallery.search(vec(0.8, 0.6), "g1", "m1", k=2)
    assert [h.name for h in hits] == ["A", "B"]
    assert hits[0].similarity == pytest.approx(0.96, abs=1e-5)  # best A face, not the mean
    assert hits[1].similarity == pytest.approx(0.6, abs=1e-5)


async def test_search_many_queries_at_once(gallery):
    await gallery.add([rec("A", vec(1, 0)), rec("B", vec(0, 1))])
    rows = await gallery.search(np.stack([vec(1, 0), vec(0, 1)]), "g1", "m1", k=1)
    assert [r[0].name for r in rows] == ["A", "B"]


async def test_vectors_are_normalised_on_add(gallery):
    await gallery.add([rec("A", vec(3, 4))])
    (hits,) = await gallery.search(vec(3, 4), "g1", "m1", k=1)
    assert hits[0].similarity == pytest.approx(1.0, abs=1e-5)


async def test_scopes_are_isolated(gallery):
    await gallery.add([rec("A", vec(1, 0), scope="g1")])
    assert (await gallery.search(vec(1, 0), "g2", "m1", k=3)) == [[]]
    assert await gallery.characters("g2") == []
    with pytest.raises(UnknownCharacter):
        await gallery.forget("g2", "A")
    with pytest.raises(UnknownCharacter):
        await gallery.rename("g2", "A", "Z")
    assert await gallery.count("g1") == 1


async def test_model_ids_are_never_mixed(gallery):
    await gallery.add([rec("A", vec(1, 0), model="old"), rec("B", vec(1, 0), model="new")])
    (hits,) = await gallery.search(vec(1, 0), "g1", "new", k=5)
    assert [h.name for h in hits] == ["B"]
    assert await gallery.model_ids("g1") == {"old": 1, "new": 1}


async def test_add_is_idempotent(gallery):
    r = rec("A", vec(1, 0), source="same-picture")
    first = await gallery.add([r])
    second = await gallery.add([r])
    assert first == second
    assert await gallery.count("g1") == 1


async def test_has_source(gallery):
    await gallery.add([rec("A", vec(1, 0), source="pic")])
    assert await gallery.has_source("g1", "A", "m1", "pic")
    assert not await gallery.has_source("g1", "B", "m1", "pic")
    assert not await gallery.has_source("g2", "A", "m1", "pic")


async def test_forget(gallery):
    await gallery.add([rec("A", vec(1, 0)), rec("A", vec(0, 1)), rec("B", vec(1, 1))])
    assert await gallery.forget("g1", "A") == 2
    assert [c.name for c in await gallery.characters("g1")] == ["B"]
    with pytest.raises(UnknownCharacter):
        await gallery.forget("g1", "A")


async def test_rename_and_merge(gallery):
    await gallery.add([rec("A", vec(1, 0)), rec("B", vec(0, 1))])
    await gallery.set_character_info("g1", "A", series="Show", link="https://example.org/a")
    assert await gallery.rename("g1", "A", "Alpha") == 1
    chars = {c.name: c for c in await gallery.characters("g1")}
    assert set(chars) == {"Alpha", "B"} and chars["Alpha"].series == "Show"
    (hits,) = await gallery.search(vec(1, 0), "g1", "m1", k=1)
    assert hits[0].name == "Alpha" and hits[0].link == "https://example.org/a"
    assert await gallery.rename("g1", "B", "Alpha") == 1  # merge
    assert [(c.name, c.faces) for c in await gallery.characters("g1")] == [("Alpha", 2)]


async def test_names_are_trimmed_and_any_script_works(gallery):
    await gallery.add([rec("  初音   ミク ", vec(1, 0))])
    assert [c.name for c in await gallery.characters("g1")] == ["初音 ミク"]
    assert await gallery.forget("g1", "初音 ミク") == 1


async def test_characters_with_counts_sorted(gallery):
    await gallery.add([rec("b", vec(1, 0)), rec("A", vec(0, 1)), rec("A", vec(1, 1))])
    assert [(c.name, c.faces) for c in await gallery.characters("g1")] == [("A", 2), ("b", 1)]


async def test_clear_scope_only(gallery):
    await gallery.add([rec("A", vec(1, 0), scope="g1"), rec("A", vec(1, 0), scope="g2")])
    assert await gallery.clear("g1") == 1
    assert await gallery.count("g1") == 0 and await gallery.count("g2") == 1
    assert await gallery.count() == 1


async def test_records_round_trip(gallery):
    originals = [rec(f"C{i}", vec(1, i), box=(i, i, i + 5, i + 5)) for i in range(7)]
    await gallery.add(originals)
    seen = []
    async for batch in gallery.records("g1", batch_size=3):
        assert len(batch) <= 3
        seen += batch
    assert sorted(r.id for r in seen) == sorted(r.id for r in originals)
    by_id = {r.id: r for r in seen}
    for r in originals:
        got = by_id[r.id]
        assert got.name == r.name and got.box == r.box and got.model_id == r.model_id
        np.testing.assert_allclose(got.vector, r.vector / np.linalg.norm(r.vector), atol=1e-6)


async def test_empty_gallery_search(gallery):
    assert await gallery.search(vec(1, 0), "g1", "m1", k=3) == [[]]


async def test_invalid_input(gallery):
    with pytest.raises(ValueError):
        await gallery.add([rec("", vec(1, 0))])
    with pytest.raises(ValueError):
        await gallery.add([rec("A", np.array([np.nan] * DIM, np.float32))])


async def test_faces_of_one_character_with_their_crops(gallery):
    first = FaceRecord("g1", "A", "m1", vec(1, 0), "pic-1", (0, 0, 10, 10), crop=b"jpeg-1", created=100.0)
    second = FaceRecord("g1", "A", "m2", vec(0, 1), "pic-2", (5, 5, 20, 20), crop=None, created=200.0)
    await gallery.add([second, first, rec("B", vec(1, 1)), rec("A", vec(1, 0), scope="g2")])
    faces = await gallery.faces("g1", " A ")
    assert [f.id for f in faces] == [first.id, second.id]  # oldest first, every model id
    assert (faces[0].name, faces[0].scope, faces[0].model_id, faces[0].box) == ("A", "g1", "m1", (0, 0, 10, 10))
    assert faces[0].crop == b"jpeg-1" and faces[1].crop is None
    assert faces[0].created == pytest.approx(100.0)
    assert await gallery.faces("g1", "Nobody") == []
    assert await gallery.faces("g3", "A") == []


async def test_one_face_by_id_only_in_its_scope(gallery):
    r = FaceRecord("g1", "A", "m1", vec(1, 0), "pic", (1, 2, 3, 4), crop=b"jpeg")
    await gallery.add([r, rec("B", vec(0, 1))])
    face = await gallery.face("g1", r.id)
    assert face is not None and (face.id, face.name, face.crop) == (r.id, "A", b"jpeg")
    assert await gallery.face("g2", r.id) is None
    assert await gallery.face("g1", "0" * 32) is None
    assert await gallery.delete_faces([r.id]) == 1
    assert await gallery.face("g1", r.id) is None
    assert [c.name for c in await gallery.characters("g1")] == ["B"]


async def test_faces_before_anything_is_stored(gallery):
    assert await gallery.faces("g1", "A") == []
    assert await gallery.face("g1", "0" * 32) is None
