"""The aiohttp application of `kaobot web`: the page at `/` and the JSON API under `/api/`.

Reads are open; writes need `Authorization: Bearer $KAOBOT_WEB_TOKEN` (compared in constant time,
never logged) and are refused when no token is configured. Uploads are limited while streaming:
a declared Content-Length over the limit is refused before the body is read, and a body without
one is counted as it arrives. Pictures are analysed by the recognizer's inference worker (or its
executor), never on the event loop; a full queue answers 503 with `Retry-After`.
"""

from __future__ import annotations

import hmac
import logging
from pathlib import Path
from typing import Any

from aiohttp import web

from recognition import (
    BadImage,
    Busy,
    DuplicateEnrollment,
    GalleryUnavailable,
    KaobotError,
    NoFaceFound,
    Recognizer,
    UnknownCharacter,
)
from recognition.gallery import StoredFace
from recognition.service import enrollment_to_json

log = logging.getLogger(__name__)

TOKEN_VARIABLE = "KAOBOT_WEB_TOKEN"
STATIC = Path(__file__).resolve().parent / "static"
FORM_OVERHEAD = 64 * 1024  # multipart boundaries, headers and the small text fields around a picture
RETRY_AFTER_S = 5
NO_TOKEN = (
    f"writes are disabled: start kaobot web with {TOKEN_VARIABLE} set to a secret "
    f"(for example `export {TOKEN_VARIABLE}=$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')`) "
    "and send it as `Authorization: Bearer <token>`"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}

RECOGNIZER = web.AppKey("recognizer", Recognizer)
CONFIG = web.AppKey("config", dict)


def create_app(
    recognizer: Recognizer, *, scope: str, token: str | None, max_bytes: int | None = None
) -> web.Application:
    """The application over `recognizer`, serving one gallery scope. `token` None or empty: writes
    refused. `max_bytes`: the largest picture accepted (default the recognizer's decode limit)."""
    max_bytes = int(max_bytes or recognizer.limits.max_bytes)
    body_limit = max_bytes + FORM_OVERHEAD
    app = web.Application(client_max_size=body_limit, middlewares=[_errors])
    app[RECOGNIZER] = recognizer
    app[CONFIG] = {
        "scope": str(scope),
        "token": (token or "").encode("utf-8"),
        "max_bytes": max_bytes,
        "body_limit": body_limit,
    }
    app.on_response_prepare.append(_security_headers)
    app.router.add_get("/", _index)
    app.router.add_static("/static/", STATIC, show_index=False, follow_symlinks=False)
    app.router.add_get("/api/health", health)
    app.router.add_post("/api/whois", whois)
    app.router.add_post("/api/enroll", enroll)
    app.router.add_get("/api/characters", characters)
    app.router.add_get("/api/characters/{name}/faces", character_faces)
    app.router.add_patch("/api/characters/{name}", rename_character)
    app.router.add_delete("/api/characters/{name}", forget_character)
    app.router.add_get("/api/faces/{id}/crop", face_crop)
    app.router.add_delete("/api/faces/{id}", delete_face)
    return app


# -- plumbing -------------------------------------------------------------------------------------
def _error(status: int, message: str, **headers: str) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers or None)


# Domain errors → HTTP status; the message is the error's own (written for people).
_STATUS: list[tuple[type[Exception], int]] = [
    (Busy, 503),
    (GalleryUnavailable, 503),
    (BadImage, 400),
    (NoFaceFound, 422),
    (DuplicateEnrollment, 409),
    (UnknownCharacter, 404),
]


@web.middleware
async def _errors(request: web.Request, handler) -> web.StreamResponse:
    """Every failure of an API route becomes JSON `{"error": ...}` with a fitting status."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if not request.path.startswith("/api/") or exc.status < 400:
            raise
        response = _error(exc.status, exc.reason if not exc.text or exc.text.startswith(f"{exc.status}:") else exc.text)
        for key in ("Allow", "WWW-Authenticate", "Retry-After"):
            if key in exc.headers:
                response.headers[key] = exc.headers[key]
        if exc.status == 413:
            response.force_close()
        return response
    except KaobotError as exc:
        status = next((code for kind, code in _STATUS if isinstance(exc, kind)), 400)
        if status == 503:
            log.warning("%s %s: %s", request.method, request.path, exc)
            return _error(503, str(exc), **{"Retry-After": str(RETRY_AFTER_S)})
        return _error(status, str(exc))
    except ValueError as exc:  # invalid names (recognition.gallery.clean_name) and the like
        return _error(400, str(exc))
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        return _error(500, "internal error; the server log has the details")


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    for key, value in SECURITY_HEADERS.items():
        response.headers.setdefault(key, value)
    if request.path.startswith("/api/"):
        response.headers.setdefault("Cache-Control", "no-store")


def _require_token(request: web.Request) -> None:
    """401 without a bearer token, 403 with a wrong one or when writes are disabled."""
    expected: bytes = request.app[CONFIG]["token"]
    if not expected:
        raise web.HTTPForbidden(text=NO_TOKEN)
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        raise web.HTTPUnauthorized(
            text="this needs the web token: send `Authorization: Bearer <token>`",
            headers={"WWW-Authenticate": 'Bearer realm="kaobot"'},
        )
    if not hmac.compare_digest(given.strip().encode("utf-8"), expected):
        raise web.HTTPForbidden(text="the web token is wrong")


def _too_large(limit: int) -> web.HTTPRequestEntityTooLarge:
    return web.HTTPRequestEntityTooLarge(
        max_size=limit, actual_size=0, text=f"the upload is too large; the limit is {limit} bytes"
    )


async def _form(request: web.Request, files: set[str]) -> dict[str, Any]:
    """The multipart form, read part by part: file fields as bytes (at most `max_bytes` each),
    text fields as str. Refuses before reading when the declared length is over the limit."""
    max_bytes = request.app[CONFIG]["max_bytes"]
    limit = request.app[CONFIG]["body_limit"]
    if request.content_length is not None and request.content_length > limit:
        raise _too_large(max_bytes)
    if not request.content_type.startswith("multipart/form-data"):
        raise web.HTTPBadRequest(text="send the picture as multipart/form-data (field `image`)")
    try:
        reader = await request.multipart()
    except (ValueError, AssertionError) as exc:
        raise web.HTTPBadRequest(text=f"malformed multipart form: {exc}") from None
    form: dict[str, Any] = {}
    total = 0
    while True:
        part = await reader.next()
        if part is None:
            break
        if not hasattr(part, "read_chunk"):
            raise web.HTTPBadRequest(text="nested multipart forms are not accepted")
        cap = max_bytes if part.name in files else 4096
        chunks: list[bytes] = []
        size = 0
        while chunk := await part.read_chunk(64 * 1024):
            size += len(chunk)
            total += len(chunk)
            if size > cap or total > limit:
                raise (
                    _too_large(max_bytes)
                    if part.name in files
                    else web.HTTPBadRequest(text=f"field {part.name!r} is too long")
                )
            chunks.append(chunk)
        data = b"".join(chunks)
        if part.name in files:
            form[part.name] = data
        elif part.name:
            try:
                form[part.name] = data.decode("utf-8")
            except UnicodeDecodeError:
                raise web.HTTPBadRequest(text=f"field {part.name!r} is not UTF-8 text") from None
    return form


def _image(form: dict[str, Any]) -> bytes:
    data = form.get("image")
    if not isinstance(data, bytes):
        raise web.HTTPBadRequest(text="the form has no `image` file field")
    return data


def _int_field(form: dict[str, Any], name: str, low: int, high: int) -> int | None:
    value = form.get(name)
    if value is None or str(value).strip() == "":
        return None
    try:
        number = int(str(value).strip())
    except ValueError:
        raise web.HTTPBadRequest(text=f"`{name}` must be a whole number") from None
    if not low <= number <= high:
        raise web.HTTPBadRequest(text=f"`{name}` must be from {low} to {high}")
    return number


def _face_json(face: StoredFace) -> dict[str, Any]:
    return {
        "id": face.id,
        "name": face.name,
        "model_id": face.model_id,
        "box": list(face.box),
        "created": round(face.created, 3),
        "crop": f"/api/faces/{face.id}/crop" if face.crop else None,
    }


# -- routes ---------------------------------------------------------------------------------------
async def _index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})


async def health(request: web.Request) -> web.Response:
    recognizer = request.app[RECOGNIZER]
    scope = request.app[CONFIG]["scope"]
    return web.json_response(
        {
            "status": "ok",
            "scope": scope,
            "models": {
                "detector": getattr(recognizer.detector, "model_id", type(recognizer.detector).__name__),
                "embedder": recognizer.model_id,
            },
            "faces": await recognizer.gallery.count(scope),
            "writes": bool(request.app[CONFIG]["token"]),
            "max_bytes": request.app[CONFIG]["max_bytes"],
            "notice": await recognizer.stale_notice(scope),
        }
    )


async def whois(request: web.Request) -> web.Response:
    form = await _form(request, {"image"})
    top_k = _int_field(form, "top_k", 1, 20)
    recognizer = request.app[RECOGNIZER]
    result = await recognizer.identify(_image(form), request.app[CONFIG]["scope"], top_k)
    height, width = result.image.shape[:2]
    return web.json_response(result.to_json(), headers={"X-Image-Size": f"{width}x{height}"})


async def enroll(request: web.Request) -> web.Response:
    _require_token(request)
    form = await _form(request, {"image"})
    name = form.get("name")
    if not isinstance(name, str) or not name.strip():
        raise web.HTTPBadRequest(text="the form has no `name` field")
    face = _int_field(form, "face", 1, 10_000)
    recognizer = request.app[RECOGNIZER]
    result = await recognizer.enroll(name, _image(form), request.app[CONFIG]["scope"], face)
    return web.json_response(enrollment_to_json(result), status=201)


async def characters(request: web.Request) -> web.Response:
    chars = await request.app[RECOGNIZER].characters(request.app[CONFIG]["scope"])
    return web.json_response(
        {"characters": [{"name": c.name, "faces": c.faces, "series": c.series, "link": c.link} for c in chars]}
    )


async def character_faces(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    faces = await request.app[RECOGNIZER].gallery.faces(request.app[CONFIG]["scope"], name)
    if not faces:
        raise UnknownCharacter(f"no character named {' '.join(name.split())!r} is enrolled here")
    return web.json_response({"name": faces[0].name, "faces": [_face_json(f) for f in faces]})


async def rename_character(request: web.Request) -> web.Response:
    _require_token(request)
    if request.content_length is not None and request.content_length > 4096:
        raise _too_large(4096)
    try:
        body = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text='send JSON: {"name": "the new name"}') from None
    new = body.get("name") if isinstance(body, dict) else None
    if not isinstance(new, str):
        raise web.HTTPBadRequest(text='send JSON: {"name": "the new name"}')
    moved = await request.app[RECOGNIZER].rename(request.match_info["name"], new, request.app[CONFIG]["scope"])
    return web.json_response({"name": " ".join(new.split()), "faces": moved})


async def forget_character(request: web.Request) -> web.Response:
    _require_token(request)
    removed = await request.app[RECOGNIZER].forget(request.match_info["name"], request.app[CONFIG]["scope"])
    return web.json_response({"removed": removed})


async def face_crop(request: web.Request) -> web.Response:
    face = await request.app[RECOGNIZER].gallery.face(request.app[CONFIG]["scope"], request.match_info["id"])
    if face is None or not face.crop:
        raise web.HTTPNotFound(text="no such face (or it has no stored picture)")
    return web.Response(body=face.crop, content_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})


async def delete_face(request: web.Request) -> web.Response:
    _require_token(request)
    gallery = request.app[RECOGNIZER].gallery
    face = await gallery.face(request.app[CONFIG]["scope"], request.match_info["id"])
    if face is None:
        raise web.HTTPNotFound(text="no such face in this scope")
    await gallery.delete_faces([face.id])
    log.info("deleted face %s of %r in scope %s", face.id, face.name, face.scope)
    return web.json_response({"removed": 1, "name": face.name})
