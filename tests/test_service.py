"""The Recognizer end to end with real parts: the default (shipped) detector and embedder, a SQLite file."""

import numpy as np
import pytest

from recognition import BadImage, DuplicateEnrollment, NoFaceFound, UnknownCharacter, build_recognizer
from recognition.gallery import FaceRecord

from .conftest import ALICE, BELLA, CARLA, png


async def test_enroll_then_identify(recognizer, alice_png, alice_png_2, bella_png):
    e = await recognizer.enroll("Alice", alice_png, "guild-1")
    assert e.face_number == 1 and e.faces_in_picture == 1
    await recognizer.enroll("Bella", bella_png, "guild-1")
    result = await recognizer.identify(alice_png_2, "guild-1")
    (face,) = result.faces
    assert face.name == "Alice"
    assert face.similarity >= recognizer.threshold
    assert [c.name for c in face.candidates] == ["Alice", "Bella"]
    assert face.detection_score > 0.5
    x1, y1, x2, y2 = face.box
    assert x1 < 230 < x2 and y1 < 190 < y2  # in the original picture's pixels


async def test_unknown_below_threshold(recognizer, alice_png):
    await recognizer.enroll("Alice", alice_png, "g")
    (face,) = (await recognizer.identify(png([(200, 200, 170, CARLA)]), "g")).faces
    assert face.name is None
    assert face.similarity is not None and face.similarity < recognizer.threshold
    assert face.candidates[0].name == "Alice"


async def test_nobody_enrolled(recognizer, alice_png):
    (face,) = (await recognizer.identify(alice_png, "g")).faces
    assert face.name is None and face.similarity is None and face.candidates == []


async def test_faces_are_numbered_left_to_right(recognizer, pair_png, alice_png, bella_png):
    await recognizer.enroll("Alice", alice_png, "g")
    await recognizer.enroll("Bella", bella_png, "g")
    result = await recognizer.identify(pair_png, "g")
    assert [f.number for f in result.faces] == [1, 2]
    assert [f.name for f in result.faces] == ["Alice", "Bella"]
    assert result.faces[0].box[0] < result.faces[1].box[0]


async def test_enroll_chosen_face_of_two(recognizer, pair_png, bella_png):
    e = await recognizer.enroll("Bella", pair_png, "g", face=2)
    assert e.face_number == 2 and e.faces_in_picture == 2
    (face,) = (await recognizer.identify(bella_png, "g")).faces
    assert face.name == "Bella"


async def test_enroll_defaults_to_the_largest_face(recognizer, pair_png):
    e = await recognizer.enroll("Alice", pair_png, "g")
    assert e.face_number == 1  # Alice is drawn larger


async def test_enroll_face_number_out_of_range(recognizer, pair_png):
    with pytest.raises(NoFaceFound, match="1 to 2"):
        await recognizer.enroll("X", pair_png, "g", face=3)
    assert await recognizer.gallery.count() == 0


async def test_enroll_without_a_face_stores_nothing(recognizer, blank_png):
    with pytest.raises(NoFaceFound):
        await recognizer.enroll("Nobody", blank_png, "g")
    assert await recognizer.gallery.count() == 0


async def test_same_picture_twice_is_refused(recognizer, alice_png):
    await recognizer.enroll("Alice", alice_png, "g")
    with pytest.raises(DuplicateEnrollment):
        await recognizer.enroll("Alice", alice_png, "g")
    await recognizer.enroll("Alice", alice_png, "other-guild")  # another scope is fine
    assert await recognizer.gallery.count() == 2


async def test_corrupt_picture_stores_nothing(recognizer):
    with pytest.raises(BadImage):
        await recognizer.enroll("Alice", b"\x89PNG\r\n\x1a\nbroken", "g")
    assert await recognizer.gallery.count() == 0


async def test_scope_isolation(recognizer, alice_png, alice_png_2):
    await recognizer.enroll("Alice", alice_png, "guild-A")
    (face,) = (await recognizer.identify(alice_png_2, "guild-B")).faces
    assert face.name is None and face.candidates == []
    with pytest.raises(UnknownCharacter):
        await recognizer.forget("Alice", "guild-B")


async def test_forget_rename_characters(recognizer, alice_png, bella_png):
    await recognizer.enroll("Alice", alice_png, "g")
    await recognizer.enroll("Bella", bella_png, "g")
    assert await recognizer.rename("Alice", "アリス", "g") == 1
    assert [(c.name, c.faces) for c in await recognizer.characters("g")] == [("Bella", 1), ("アリス", 1)]
    assert await recognizer.forget("Bella", "g") == 1
    assert [c.name for c in await recognizer.characters("g")] == ["アリス"]


async def test_stored_vectors_of_another_model_are_reported_and_ignored(recognizer, alice_png):
    await recognizer.gallery.add(
        [FaceRecord("g", "Old", "old-model", np.ones(recognizer.embedder.dim, np.float32), "h", (0, 0, 5, 5))]
    )
    assert await recognizer.stale_models("g") == {"old-model": 1}
    (face,) = (await recognizer.identify(alice_png, "g")).faces
    assert face.candidates == []


async def test_max_faces_keeps_the_largest(settings):
    settings.recognition.max_faces = 1
    rec = build_recognizer(settings)
    try:
        result = await rec.identify(png([(150, 200, 120, BELLA), (500, 200, 200, ALICE)], size=(700, 400)), "g")
        assert len(result.faces) == 1 and result.faces[0].box[0] > 350
    finally:
        await rec.gallery.close()


async def test_annotated_picture_has_boxes(recognizer, pair_png):
    result = await recognizer.identify(pair_png, "g")
    annotated = result.annotated()
    assert annotated.shape == result.image.shape
    assert not np.array_equal(annotated, result.image)
    # The box outline of face 1 is drawn in the unknown colour.
    x1, y1, x2, y2 = result.faces[0].box
    assert tuple(annotated[(y1 + y2) // 2, x1]) == (241, 196, 15)


def test_serving_keeps_blas_on_one_thread(settings):
    """OpenBLAS's spinning threads halved the detector's speed on 2 cores (recognition/device.py)."""
    from threadpoolctl import threadpool_info, threadpool_limits

    with threadpool_limits(limits=None):  # leave the process as it was afterwards
        build_recognizer(settings)
        assert {p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"} == {1}
