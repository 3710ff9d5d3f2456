"""Elasticsearch gallery specifics (the shared behaviour is in the contract suite): mapping,
versioned indices, search modes, failures and recovery, partial bulk failures, migration."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest
import yaml
from aiohttp import web

from recognition.config import ElasticsearchSettings, load_settings
from recognition.errors import ConfigError, GalleryUnavailable, GalleryWriteError
from recognition.gallery import FaceRecord
from recognition.gallery.elastic import ElasticsearchGallery
from recognition.gallery.sqlite import SQLiteGallery
from recognition.maintenance import copy_gallery
from tools import cli

from .gallery_backends import es_settings

needs_server = pytest.mark.elasticsearch  # a local noida-db, started by the es_server fixtures

DIM = 8


def vec(*values: float) -> np.ndarray:
    v = np.zeros(DIM, np.float32)
    v[: len(values)] = values
    return v


def rec(name, vector, scope="g1", model="m1", box=(0, 0, 10, 10), crop=None, source=None):
    return FaceRecord(scope, name, model, vector, source or f"{name}-{vector.tobytes().hex()}", box, crop)


@pytest.fixture
async def es(es_server):
    g = ElasticsearchGallery(es_settings(es_server.url))
    yield g
    await g.close()


@needs_server
async def test_mapping_is_explicit_and_behind_a_versioned_alias(es):
    await es.add([rec("A", vec(1, 0), crop=b"\xff\xd8jpeg")])
    mapping = (await es.client.indices.get_mapping(index=es.alias)).body
    ((index, body),) = mapping.items()
    assert index == f"{es.alias}-v1"
    props = body["mappings"]["properties"]
    assert props["embedding"]["dims"] == DIM
    assert props["embedding"]["similarity"] == "cosine"
    assert props["embedding"]["index_options"]["type"] == "hnsw"
    assert {props[f]["type"] for f in ("id", "name", "img_name", "scope", "model_id", "source_hash")} == {"keyword"}
    assert props["crop"]["type"] == "binary"
    aliases = (await es.client.indices.get_alias(name=es.alias)).body
    assert aliases == {index: {"aliases": {es.alias: {"is_write_index": True}}}}
    (stored,) = [r async for batch in es.records() for r in batch]
    assert stored.crop == b"\xff\xd8jpeg"


@needs_server
async def test_vectors_of_another_size(es):
    await es.add([rec("A", vec(1, 0))])
    with pytest.raises(ValueError, match="8-dimensional"):
        await es.add([FaceRecord("g1", "B", "m2", np.ones(16, np.float32), "pic", (0, 0, 1, 1))])
    # No face of a 16-d model can be stored here, so a 16-d query finds nobody.
    assert await es.search(np.ones(16, np.float32), "g1", "m2", k=3) == [[]]


@needs_server
@pytest.mark.parametrize("mode", ["script_score", "knn-without-collapse"])
async def test_other_search_modes_give_the_same_similarities(es_server, es, mode):
    await es.add([rec("A", vec(1, 0)), rec("A", vec(0.6, 0.8)), rec("B", vec(0, 1)), rec("C", vec(-1, 0))])
    overrides = {"search": "script_score"} if mode == "script_score" else {"collapse": False}
    other = ElasticsearchGallery(es_settings(es_server.url, index=es.alias, **overrides))
    try:
        queries = np.stack([vec(0.8, 0.6), vec(-1, 0.1)])
        for gallery in (es, other):
            rows = await gallery.search(queries, "g1", "m1", k=3)
            assert [c.name for c in rows[0]] == ["A", "B", "C"]
            assert [c.similarity for c in rows[0]] == pytest.approx([0.96, 0.6, -0.8], abs=1e-5)
            assert rows[1][0].name == "C"
    finally:
        await other.close()


@needs_server
async def test_partial_bulk_failure_names_the_faces_not_stored(es):
    # A real per-document failure: the index behind the alias maps `box` as `byte`, so faces
    # with coordinates above 127 are rejected by the server while the others are stored.
    vectors = {"type": "dense_vector", "dims": DIM, "similarity": "cosine"}
    mapping = {"properties": {"box": {"type": "byte"}, "embedding": vectors}}
    await es.client.indices.create(index=f"{es.alias}-v1", mappings=mapping, aliases={es.alias: {}})
    small = [rec(f"S{i}", vec(1, i), box=(0, 0, 10 + i, 10 + i)) for i in range(3)]
    large = [rec(f"L{i}", vec(i, 1), box=(0, 0, 200 + i, 200 + i)) for i in range(2)]
    with pytest.raises(GalleryWriteError) as info:
        await es.add(small + large)
    assert set(info.value.failed) == {r.id for r in large}
    assert all("byte" in reason for reason in info.value.failed.values())
    assert sorted(info.value.stored) == sorted(r.id for r in small)
    assert await es.count("g1") == 3


@needs_server
async def test_existing_concrete_index_is_not_taken_over(es):
    await es.client.indices.create(index=es.alias)
    with pytest.raises(ConfigError, match="not an alias"):
        await es.add([rec("A", vec(1, 0))])


@needs_server
async def test_server_stopped_then_started_again(es_private_server, monkeypatch):
    monkeypatch.setenv("KAOBOT_ES_PASSWORD", "pa55word-not-for-messages")
    settings = es_settings(es_private_server.url, username="kaobot", retries=2, retry_backoff=0.05)
    gallery = ElasticsearchGallery(settings)
    try:
        await gallery.add([rec("A", vec(1, 0))])
        es_private_server.stop()
        with pytest.raises(GalleryUnavailable) as info:
            await gallery.search(vec(1, 0), "g1", "m1", k=1)
        message = str(info.value)
        assert "unavailable" in message and es_private_server.url in message and "3 attempt(s)" in message
        assert "pa55word" not in message
        with pytest.raises(GalleryUnavailable):
            await gallery.add([rec("B", vec(0, 1))])
        es_private_server.start()  # same port and data: the same gallery object recovers
        (hits,) = await gallery.search(vec(1, 0), "g1", "m1", k=1)
        assert hits[0].name == "A"
        await gallery.add([rec("B", vec(0, 1))])
        assert await gallery.count("g1") == 2
    finally:
        await gallery.close()


async def _fake_es(handler) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    return runner, f"http://127.0.0.1:{port}"


async def test_transient_errors_are_retried_with_backoff():
    calls = []

    async def handler(request: web.Request) -> web.Response:
        calls.append(asyncio.get_running_loop().time())
        if len(calls) <= 2:
            return web.Response(status=503, text="busy")
        return web.json_response({"count": 7}, headers={"X-Elastic-Product": "Elasticsearch"})

    runner, url = await _fake_es(handler)
    gallery = ElasticsearchGallery(es_settings(url, retries=3, retry_backoff=0.05))
    try:
        assert await gallery.count() == 7
        assert len(calls) == 3
        # Backoff 0.05 s × 2^attempt × jitter (0.5–1.5): at least 25 ms, then 50 ms.
        assert calls[1] - calls[0] >= 0.02 and calls[2] - calls[1] >= 0.045
    finally:
        await gallery.close()
        await runner.cleanup()


async def test_a_server_too_slow_is_unavailable():
    release = asyncio.Event()

    async def handler(request: web.Request) -> web.Response:
        await release.wait()  # answers only after the client gave up
        return web.json_response({"count": 1})

    runner, url = await _fake_es(handler)
    gallery = ElasticsearchGallery(es_settings(url, retries=1, retry_backoff=0.01, request_timeout=0.3))
    try:
        with pytest.raises(GalleryUnavailable, match="ConnectionTimeout.*2 attempt"):
            await gallery.count()
    finally:
        release.set()
        await gallery.close()
        await runner.cleanup()


def test_settings_reject_credentials_in_urls_and_bad_choices():
    with pytest.raises(ConfigError, match="credentials"):
        ElasticsearchGallery(ElasticsearchSettings(hosts=["https://user:secret@es.example:9200"]))
    with pytest.raises(ConfigError, match="index_type"):
        ElasticsearchGallery(ElasticsearchSettings(index_type="bbq_hnsw"))
    with pytest.raises(ConfigError, match="search"):
        ElasticsearchGallery(ElasticsearchSettings(search="vector"))


def test_settings_from_yaml(tmp_path):
    path = tmp_path / "kaobot.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "gallery": {
                    "backend": "elasticsearch",
                    "elasticsearch": {"hosts": ["http://a:9200", "http://b:9200"], "k": 50},
                }
            }
        )
    )
    es = load_settings(path).gallery.elasticsearch
    assert es.hosts == ["http://a:9200", "http://b:9200"] and es.k == 50 and es.index == "anime_face"
    path.write_text(yaml.safe_dump({"gallery": {"elasticsearch": {"password": "x"}}}))
    with pytest.raises(ConfigError, match="password"):
        load_settings(path)


def _records_by_id(records):
    return {r.id: r for r in records}


async def _all(gallery):
    return [r async for batch in gallery.records(batch_size=4) for r in batch]


@needs_server
async def test_migration_round_trip(tmp_path, es):
    first = SQLiteGallery(tmp_path / "first.sqlite3")
    back = SQLiteGallery(tmp_path / "back.sqlite3")
    try:
        originals = [
            rec(f"C{i % 4}", vec(1, i, -i), scope=f"g{i % 2}", box=(i, i, i + 9, i + 9), crop=bytes([i]) * 20)
            for i in range(11)
        ] + [rec("old", vec(0, 1), model="m0")]
        await first.add(originals)
        await first.set_character_info("g0", "C0", series="Show", link="https://example.org/c0")
        to_es = await copy_gallery(first, es, batch_size=4)
        assert to_es.faces == 12 and to_es.scopes == {"g0": 6, "g1": 6} and to_es.character_infos == 1
        await copy_gallery(es, back, batch_size=5)
        want, got = _records_by_id(await _all(first)), _records_by_id(await _all(back))
        assert set(want) == set(got)
        for fid, a in want.items():
            b = got[fid]
            assert (a.scope, a.name, a.model_id, a.source_hash, a.box, a.crop) == (
                b.scope,
                b.name,
                b.model_id,
                b.source_hash,
                b.box,
                b.crop,
            )
            np.testing.assert_allclose(a.vector, b.vector, atol=1e-6)
            assert abs(a.created - b.created) < 0.001
        assert await back.characters("g0") == await first.characters("g0")
        assert await back.model_ids() == {"m1": 11, "m0": 1}
    finally:
        await first.close()
        await back.close()


@needs_server
def test_cli_migrate_verifies_and_refuses_a_full_destination(tmp_path, es_server, capsys):
    settings = es_settings(es_server.url)
    config = tmp_path / "kaobot.yaml"
    es_cfg = {"hosts": settings.hosts, "index": settings.index, "replicas": 0, "retries": 0}
    config.write_text(yaml.safe_dump({"data_dir": str(tmp_path / "data"), "gallery": {"elasticsearch": es_cfg}}))

    async def seed():
        async with SQLiteGallery(tmp_path / "data" / "gallery.sqlite3") as g:
            await g.add([rec("A", vec(1, 0)), rec("B", vec(0, 1), scope="g2")])

    asyncio.run(seed())
    argv = ["gallery", "migrate", "--from", "sqlite", "--to", "elasticsearch", "--config", str(config), "--quiet"]
    assert cli.main(argv) == 0
    assert "copied 2 face(s) in 2 scope(s)" in capsys.readouterr().out
    assert cli.main(argv) == 1
    assert "already holds 2 face(s)" in capsys.readouterr().err
    config.write_text(
        yaml.safe_dump(
            {"data_dir": str(tmp_path / "data"), "gallery": {"backend": "elasticsearch", "elasticsearch": es_cfg}}
        )
    )
    assert cli.main(["characters", "--json", "--scope", "g2", "--config", str(config)]) == 0
    assert json.loads(capsys.readouterr().out) == [{"name": "B", "faces": 1, "series": None, "link": None}]


async def _indices(es) -> dict[str, list[str]]:
    resp = await es.client.indices.get(index=f"{es.alias}-v*", ignore_unavailable=True, allow_no_indices=True)
    return {name: sorted(body.get("aliases", {})) for name, body in resp.body.items()}


@needs_server
async def test_rewrite_writes_a_new_index_and_swaps_the_alias(es):
    await es.add([rec(f"C{i}", vec(1, i)) for i in range(5)])

    async def to_16_dims(batch):  # a new model of another size: only a new index can hold it
        return [FaceRecord(r.scope, r.name, "m2", np.tile(r.vector, 2), r.source_hash, r.box) for r in batch]

    summary = await es.rewrite(to_16_dims, batch_size=2)
    assert summary.replaced == 5
    assert await _indices(es) == {f"{es.alias}-v2": [es.alias]}  # old index deleted after the swap
    assert await es.model_ids() == {"m2": 5}
    (hits,) = await es.search(np.tile(vec(1, 0), 2), "g1", "m2", k=1)
    assert hits[0].name == "C0" and hits[0].similarity == pytest.approx(1.0, abs=1e-5)


@needs_server
async def test_a_failed_rewrite_leaves_the_gallery_as_it_was(es):
    await es.add([rec(f"C{i}", vec(1, i)) for i in range(5)])
    calls = 0

    async def fails_later(batch):
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("embedder crashed")
        return [FaceRecord(r.scope, r.name, "m2", r.vector, r.source_hash, r.box) for r in batch]

    with pytest.raises(RuntimeError):
        await es.rewrite(fails_later, batch_size=2)
    assert await _indices(es) == {f"{es.alias}-v1": [es.alias]}  # unfinished v2 removed, alias unmoved
    assert await es.model_ids() == {"m1": 5}


@needs_server
async def test_reembed_to_another_size_reports_faces_it_cannot_keep(es):
    from dataclasses import replace

    from recognition.embed.baseline import BaselineEmbedder
    from recognition.maintenance import reembed_gallery

    from .conftest import ALICE, BELLA
    from .test_gallery_maintenance import _stored_face

    embedder = BaselineEmbedder()
    alice, alice_fresh = _stored_face(embedder, ALICE, 200, 200, 170, model="old-8d", name="Alice")
    bella, _ = _stored_face(embedder, BELLA, 210, 190, 150, model="old-8d", name="Bella", with_crop=False)
    alice, bella = replace(alice, vector=vec(1, 0)), replace(bella, vector=vec(0, 1))  # an older 8-d model
    await es.add([alice, bella])

    with pytest.raises(GalleryWriteError) as info:
        await reembed_gallery(es, embedder, batch_size=1)
    assert set(info.value.failed) == {bella.id}
    assert "--drop-without-crop" in str(info.value)
    assert await _indices(es) == {f"{es.alias}-v1": [es.alias]}  # nothing changed
    assert await es.model_ids() == {"old-8d": 2}

    summary = await reembed_gallery(es, embedder, drop_without_crop=True)
    assert (summary.reembedded, summary.dropped) == (1, 1)
    assert await _indices(es) == {f"{es.alias}-v2": [es.alias]}
    (hits,) = await es.search(alice_fresh, "g1", embedder.model_id, k=3)
    assert [h.name for h in hits] == ["Alice"] and hits[0].similarity > 0.95


def test_config_yaml_documents_the_defaults():
    from pathlib import Path

    shipped = load_settings(Path(__file__).resolve().parents[1] / "config.yaml")
    assert shipped.gallery.elasticsearch == ElasticsearchSettings()


@pytest.mark.parametrize(("status", "message"), [(500, "failed while counting"), (401, "refused the credentials")])
async def test_errors_that_retrying_cannot_fix_fail_at_once(status, message):
    calls = []

    async def handler(request: web.Request) -> web.Response:
        calls.append(request.path)
        body = {"error": {"type": "some_exception", "reason": "no"}, "status": status}
        return web.json_response(body, status=status, headers={"X-Elastic-Product": "Elasticsearch"})

    runner, url = await _fake_es(handler)
    gallery = ElasticsearchGallery(es_settings(url, retries=3, retry_backoff=0.01))
    try:
        with pytest.raises(GalleryUnavailable, match=message):
            await gallery.count()
        assert len(calls) == 1
    finally:
        await gallery.close()
        await runner.cleanup()


@needs_server
async def test_recognizer_on_elasticsearch(es_server, settings, alice_png, alice_png_2, bella_png, pair_png):
    from recognition import build_recognizer
    from recognition.errors import DuplicateEnrollment

    settings.gallery.backend = "elasticsearch"
    settings.gallery.elasticsearch = es_settings(es_server.url)
    recognizer = build_recognizer(settings)
    try:
        await recognizer.enroll("Alice", alice_png, "guild-1")
        await recognizer.enroll("Bella", bella_png, "guild-1")
        with pytest.raises(DuplicateEnrollment):
            await recognizer.enroll("Alice", alice_png, "guild-1")
        result = await recognizer.identify(pair_png, "guild-1")
        assert [f.name for f in result.faces] == ["Alice", "Bella"]
        (face,) = (await recognizer.identify(alice_png_2, "guild-1")).faces
        assert face.name == "Alice" and face.similarity >= recognizer.threshold
        assert (await recognizer.identify(alice_png_2, "guild-2")).faces[0].name is None
        (stored,) = [r async for batch in recognizer.gallery.records("guild-1") for r in batch if r.name == "Alice"]
        assert stored.crop is not None and stored.model_id == recognizer.model_id
    finally:
        await recognizer.gallery.close()
