"""The JSON API of `kaobot web` through aiohttp's test client, over a real Recognizer."""

from __future__ import annotations

import asyncio
import io
import logging
import struct
import zlib

import aiohttp
import pytest
from PIL import Image

from recognition.images import encode_png
from web import create_app
from web.app import NO_TOKEN

from .conftest import SCOPE, TOKEN, example, make_recognizer


def form(image: bytes | None = None, filename: str = "picture.png", **fields) -> aiohttp.FormData:
    data = aiohttp.FormData()
    for key, value in fields.items():
        data.add_field(key, str(value))
    if image is not None:
        data.add_field("image", image, filename=filename, content_type="image/png")
    return data


async def enroll(client, auth, name: str, picture: str = "alice.png", **fields):
    return await client.post("/api/enroll", data=form(example(picture), name=name, **fields), headers=auth)


async def test_health_reports_models_and_faces(client, auth):
    resp = await client.get("/api/health")
    assert resp.status == 200
    body = await resp.json()
    assert body["status"] == "ok" and body["scope"] == SCOPE and body["faces"] == 0 and body["writes"] is True
    assert body["models"]["embedder"] and body["models"]["detector"]
    assert (await enroll(client, auth, "Alice")).status == 201
    assert (await (await client.get("/api/health")).json())["faces"] == 1


@pytest.mark.parametrize("path", ["/", "/static/app.js", "/static/style.css", "/api/health", "/api/nothing-here"])
async def test_security_headers_on_every_response(client, path):
    resp = await client.get(path, headers={"Origin": "https://evil.example"})
    csp = resp.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Referrer-Policy"] == "no-referrer"
    assert not any(h.lower().startswith("access-control-") for h in resp.headers)  # no CORS


async def test_the_page_and_its_files_are_served(client):
    page = await client.get("/")
    assert page.status == 200 and page.content_type == "text/html"
    html = await page.text()
    assert 'src="/static/app.js"' in html and "http://" not in html and "https://" not in html  # nothing from a CDN
    js = await client.get("/static/app.js")
    assert js.status == 200 and js.content_type in {"application/javascript", "text/javascript"}
    script = await js.text()
    assert not any(sink in script for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write"))
    assert (await client.get("/static/")).status in {403, 404}  # no directory listing


async def test_no_cors_preflight(client):
    resp = await client.options(
        "/api/enroll", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    )
    assert resp.status in {403, 404, 405}
    assert "Access-Control-Allow-Origin" not in resp.headers


async def test_whois_answers_what_kaobot_whois_json_prints(client, auth, recognizer):
    assert (await enroll(client, auth, "Alice")).status == 201
    resp = await client.post("/api/whois", data=form(example("pair.png")))
    assert resp.status == 200
    body = await resp.json()
    assert body == (await recognizer.identify(example("pair.png"), SCOPE)).to_json()  # `kaobot whois --json`
    assert [f["name"] for f in body["faces"]] == ["Alice", None]
    assert body["faces"][0]["candidates"][0] == {"name": "Alice", "similarity": body["faces"][0]["similarity"]}
    assert resp.headers["X-Image-Size"] == "700x400"


async def test_whois_top_k(client, auth):
    for name, picture in (("Alice", "alice.png"), ("Bella", "bella.png")):
        assert (await enroll(client, auth, name, picture)).status == 201
    body = await (await client.post("/api/whois", data=form(example("alice-2.png"), top_k=1))).json()
    assert [len(f["candidates"]) for f in body["faces"]] == [1]
    bad = await client.post("/api/whois", data=form(example("alice-2.png"), top_k="many"))
    assert bad.status == 400 and "top_k" in (await bad.json())["error"]


async def test_enroll_stores_the_face_and_lists_it(client, auth):
    resp = await enroll(client, auth, "Alice")
    assert resp.status == 201
    body = await resp.json()
    assert body["name"] == "Alice" and body["scope"] == SCOPE and body["face_number"] == 1
    assert body["faces_in_picture"] == 1 and len(body["box"]) == 4 and body["face_id"]
    chars = await (await client.get("/api/characters")).json()
    assert chars == {"characters": [{"name": "Alice", "faces": 1, "series": None, "link": None}]}
    faces = await (await client.get("/api/characters/Alice/faces")).json()
    (face,) = faces["faces"]
    assert face["id"] == body["face_id"] and face["box"] == body["box"]
    crop = await client.get(face["crop"])
    assert crop.status == 200 and crop.content_type == "image/jpeg"
    assert Image.open(io.BytesIO(await crop.read())).format == "JPEG"


async def test_enroll_chosen_face_of_a_pair(client, auth):
    whois = await (await client.post("/api/whois", data=form(example("pair.png")))).json()
    resp = await enroll(client, auth, "Bella", "pair.png", face=2)
    assert resp.status == 201
    body = await resp.json()
    assert body["face_number"] == 2 and body["faces_in_picture"] == 2 and body["box"] == whois["faces"][1]["box"]
    out_of_range = await enroll(client, auth, "Alice", "pair.png", face=3)
    assert out_of_range.status == 422 and "1 to 2" in (await out_of_range.json())["error"]


async def test_enroll_twice_is_a_conflict(client, auth):
    assert (await enroll(client, auth, "Alice")).status == 201
    again = await enroll(client, auth, "Alice")
    assert again.status == 409 and "already enrolled" in (await again.json())["error"]


async def test_enroll_needs_a_name_and_a_picture(client, auth):
    no_name = await client.post("/api/enroll", data=form(example("alice.png")), headers=auth)
    assert no_name.status == 400 and "name" in (await no_name.json())["error"]
    no_image = await client.post("/api/enroll", data=form(name="Alice"), headers=auth)
    assert no_image.status == 400 and "image" in (await no_image.json())["error"]
    long_name = await enroll(client, auth, "x" * 101)
    assert long_name.status == 400 and "100" in (await long_name.json())["error"]
    nobody = await client.post("/api/enroll", data=form(encode_png_blank(), name="Alice"), headers=auth)
    assert nobody.status == 422 and "no face" in (await nobody.json())["error"]


def encode_png_blank() -> bytes:
    import numpy as np

    return encode_png(np.full((200, 300, 3), 235, np.uint8))


# -- the token ------------------------------------------------------------------------------------
WRITES = [
    ("POST", "/api/enroll"),
    ("PATCH", "/api/characters/Alice"),
    ("DELETE", "/api/characters/Alice"),
    ("DELETE", "/api/faces/{id}"),
]


async def _write(client, method: str, path: str, face_id: str, headers: dict):
    path = path.format(id=face_id)
    if path == "/api/enroll":
        return await client.post(path, data=form(example("alice-2.png"), name="Alice"), headers=headers)
    if method == "PATCH":
        return await client.patch(path, json={"name": "Alicia"}, headers=headers)
    return await client.delete(path, headers=headers)


@pytest.mark.parametrize("method,path", WRITES)
async def test_writes_without_the_token_or_with_a_wrong_one_are_refused(client, auth, method, path):
    face_id = (await (await enroll(client, auth, "Alice")).json())["face_id"]
    missing = await _write(client, method, path, face_id, {})
    assert missing.status == 401 and missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert "error" in await missing.json()
    for bad in (f"Bearer {TOKEN}x", "Bearer wrong", f"Basic {TOKEN}", f"bearer {TOKEN[:-1]}"):
        wrong = await _write(client, method, path, face_id, {"Authorization": bad})
        assert wrong.status in {401, 403}, bad
        assert "error" in await wrong.json()
    chars = await (await client.get("/api/characters")).json()
    assert chars["characters"] == [{"name": "Alice", "faces": 1, "series": None, "link": None}]  # nothing changed


async def test_without_a_configured_token_writes_are_refused_and_say_how_to_enable_them(aiohttp_client, recognizer):
    for token in (None, ""):
        client = await aiohttp_client(create_app(recognizer, scope=SCOPE, token=token))
        assert (await (await client.get("/api/health")).json())["writes"] is False
        for headers in ({}, {"Authorization": "Bearer "}, {"Authorization": "Bearer anything"}):
            resp = await client.post("/api/enroll", data=form(example("alice.png"), name="Alice"), headers=headers)
            assert resp.status == 403
            error = (await resp.json())["error"]
            assert error == NO_TOKEN and "KAOBOT_WEB_TOKEN" in error
        assert (await client.post("/api/whois", data=form(example("alice.png")))).status == 200  # reads still work
    assert await recognizer.gallery.count() == 0


async def test_the_token_is_never_logged(client, auth, caplog):
    caplog.set_level(logging.DEBUG)
    face_id = (await (await enroll(client, auth, "Alice")).json())["face_id"]
    assert (await client.patch("/api/characters/Alice", json={"name": "Alicia"}, headers=auth)).status == 200
    assert (await client.delete(f"/api/faces/{face_id}", headers={"Authorization": "Bearer wrong"})).status == 403
    assert caplog.records  # the access log and the service did log
    assert TOKEN not in caplog.text


# -- managing characters --------------------------------------------------------------------------
async def test_rename_and_forget(client, auth):
    assert (await enroll(client, auth, "Alice")).status == 201
    renamed = await client.patch("/api/characters/Alice", json={"name": "  Alice   Liddell "}, headers=auth)
    assert renamed.status == 200 and await renamed.json() == {"name": "Alice Liddell", "faces": 1}
    assert [c["name"] for c in (await (await client.get("/api/characters")).json())["characters"]] == ["Alice Liddell"]
    bad = await client.patch("/api/characters/Alice%20Liddell", data=b"not json", headers=auth)
    assert bad.status == 400 and "error" in await bad.json()
    unknown = await client.patch("/api/characters/Nobody", json={"name": "X"}, headers=auth)
    assert unknown.status == 404 and "Nobody" in (await unknown.json())["error"]
    forgot = await client.delete("/api/characters/Alice%20Liddell", headers=auth)
    assert forgot.status == 200 and await forgot.json() == {"removed": 1}
    assert (await (await client.get("/api/characters")).json())["characters"] == []
    assert (await client.delete("/api/characters/Alice%20Liddell", headers=auth)).status == 404
    assert (await client.get("/api/characters/Alice%20Liddell/faces")).status == 404


async def test_delete_one_face(client, auth):
    first = (await (await enroll(client, auth, "Alice", "alice.png")).json())["face_id"]
    second = (await (await enroll(client, auth, "Alice", "alice-2.png")).json())["face_id"]
    assert [f["id"] for f in (await (await client.get("/api/characters/Alice/faces")).json())["faces"]] == [
        first,
        second,
    ]
    resp = await client.delete(f"/api/faces/{first}", headers=auth)
    assert resp.status == 200 and await resp.json() == {"removed": 1, "name": "Alice"}
    faces = (await (await client.get("/api/characters/Alice/faces")).json())["faces"]
    assert [f["id"] for f in faces] == [second]
    assert (await client.get(f"/api/faces/{first}/crop")).status == 404
    again = await client.delete(f"/api/faces/{first}", headers=auth)
    assert again.status == 404 and "error" in await again.json()


async def test_a_face_of_another_scope_is_out_of_reach(aiohttp_client, client, auth, recognizer):
    face_id = (await (await enroll(client, auth, "Alice")).json())["face_id"]
    other = await aiohttp_client(create_app(recognizer, scope="another-guild", token=TOKEN))
    assert (await other.get(f"/api/faces/{face_id}/crop")).status == 404
    assert (await other.delete(f"/api/faces/{face_id}", headers=auth)).status == 404
    assert (await other.get("/api/characters")).status == 200
    assert (await (await other.get("/api/characters")).json())["characters"] == []
    assert await recognizer.gallery.count(SCOPE) == 1


async def test_a_script_name_comes_back_as_given(client, auth):
    name = "<img src=x onerror=alert(1)>"
    resp = await enroll(client, auth, name)
    assert resp.status == 201
    chars = await client.get("/api/characters")
    assert chars.content_type == "application/json"
    assert (await chars.json())["characters"][0]["name"] == name
    faces = await client.get("/api/characters/" + aiohttp.helpers.quote(name, safe="") + "/faces")
    assert faces.status == 200 and (await faces.json())["name"] == name


# -- bad pictures and large uploads ---------------------------------------------------------------
def _png_header_only(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"hello, I am a text file\n", id="text-named-png"),
        pytest.param(example("alice.png")[:3000], id="truncated"),
        pytest.param(_png_header_only(30000, 30000), id="bomb"),
        pytest.param(b"", id="empty"),
    ],
)
async def test_a_bad_picture_is_a_4xx_json_error(client, auth, data):
    for resp in (
        await client.post("/api/whois", data=form(data)),
        await client.post("/api/enroll", data=form(data, name="Alice"), headers=auth),
    ):
        assert 400 <= resp.status < 500
        assert resp.content_type == "application/json"
        assert (await resp.json())["error"]
    assert (await client.get("/api/health")).status == 200


async def test_not_a_form(client):
    resp = await client.post("/api/whois", data=example("alice.png"), headers={"Content-Type": "image/png"})
    assert resp.status == 400 and "multipart" in (await resp.json())["error"]


async def _raw_request(client, head: bytes, body: bytes) -> tuple[bytes, int]:
    """Send `head` and `body` on a raw connection; returns the response head and how much of the
    body could be written before the server answered."""
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    try:
        writer.write(head)
        await writer.drain()
        written = 0
        answer = asyncio.ensure_future(reader.readuntil(b"\r\n\r\n"))
        for start in range(0, len(body), 64 * 1024):
            if answer.done():
                break
            writer.write(body[start : start + 64 * 1024])
            try:
                await asyncio.wait_for(writer.drain(), 2)
            except (ConnectionError, asyncio.TimeoutError):
                break
            written += min(64 * 1024, len(body) - start)
            await asyncio.sleep(0)
        return await asyncio.wait_for(answer, 10), written
    finally:
        writer.close()


async def test_a_40_mib_upload_is_refused_before_it_is_read(client):
    size = 40 * 1024 * 1024
    head = (
        f"POST /api/whois HTTP/1.1\r\nHost: localhost\r\nContent-Length: {size}\r\n"
        "Content-Type: multipart/form-data; boundary=xyz\r\n\r\n"
    ).encode()
    # Only the head and 64 KiB of the body are sent before waiting: the answer must not need the rest.
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    try:
        writer.write(head + b"--xyz\r\n" + b"\0" * (64 * 1024))
        await writer.drain()
        answer = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    finally:
        writer.close()
    assert answer.startswith(b"HTTP/1.1 413")
    assert b"application/json" in answer
    health = await client.get("/api/health")
    assert health.status == 200 and (await health.json())["status"] == "ok"


async def test_an_oversized_upload_without_a_length_is_cut_while_streaming(aiohttp_client, recognizer):
    client = await aiohttp_client(create_app(recognizer, scope=SCOPE, token=TOKEN, max_bytes=1024 * 1024))
    head = (
        b"POST /api/whois HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n"
        b"Content-Type: multipart/form-data; boundary=xyz\r\n\r\n"
    )
    part = b'--xyz\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n\r\n' + b"\0" * (
        32 * 1024 * 1024
    )
    body = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in (part[i : i + 65536] for i in range(0, len(part), 65536)))
    answer, written = await _raw_request(client, head, body)
    assert answer.startswith(b"HTTP/1.1 413")
    assert written < len(body) // 2  # answered long before the 32 MiB were sent
    assert (await client.get("/api/health")).status == 200


async def test_a_picture_just_under_the_limit_is_read(aiohttp_client, recognizer):
    picture = example("alice.png")
    client = await aiohttp_client(create_app(recognizer, scope=SCOPE, token=TOKEN, max_bytes=len(picture)))
    assert (await client.post("/api/whois", data=form(picture))).status == 200
    resp = await client.post("/api/whois", data=form(picture + b"\0"))
    assert resp.status == 413 and "limit" in (await resp.json())["error"]


# -- the inference worker -------------------------------------------------------------------------
async def test_a_full_queue_answers_503_with_retry_after(aiohttp_client, models, tmp_path):
    busy = make_recognizer(models, tmp_path / "busy.sqlite3", max_pending=0)
    try:
        client = await aiohttp_client(create_app(busy, scope=SCOPE, token=TOKEN))
        resp = await client.post("/api/whois", data=form(example("alice.png")))
        assert resp.status == 503
        assert int(resp.headers["Retry-After"]) > 0
        assert "busy" in (await resp.json())["error"]
    finally:
        await busy.close()


async def test_recognition_runs_off_the_event_loop(client):
    picture = encode_png(_big_picture())
    whois = asyncio.ensure_future(client.post("/api/whois", data=form(picture)))
    await asyncio.sleep(0.05)
    health = await client.get("/api/health")  # answered while the picture is being analysed
    assert health.status == 200
    assert not whois.done()
    assert (await whois).status == 200


def _big_picture():
    from tests.conftest import ALICE, BELLA, CARLA
    from training.drawing import draw_scene

    return draw_scene([(200, 300, 300, ALICE), (520, 700, 280, BELLA), (820, 300, 260, CARLA)], size=(1024, 1024))
