"""The aiohttp application of `kaobot web`: the page at `/` and the JSON API under `/api/`.

Reads are open; writes need `Authorization: Bearer $KAOBOT_WEB_TOKEN` (compared in constant time,
never logged) and are refused when no token is configured. Uploads are limited while streaming:
a declared Content-Length over the limit is refused before the body is read, and a body without
one is counted as it arrives. Pictures are analysed by the recognizer's inference worker (or its
executor), never on the event loop; a full queue answers 503 with `Retry-After`.

Corrections (issue 16): with a `ReviewDesk`, each `/api/whois` answer with faces carries an
`answer` id, its faces' evidence kept in memory (`web.answers`); anyone may then suggest a name for
one of its faces (`POST /api/suggestions`, rate-limited by the desk per client address); only the
token holder lists, approves or rejects suggestions, and only approving enrols.
"""

from __future__ import annotations

import hmac
import json
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
from recognition.errors import NoSuchSuggestion, ReviewError, ReviewLimit
from recognition.gallery import StoredFace
from recognition.review import UNKNOWN
from recognition.review.service import ReviewDesk, ReviewItem, suggestion_to_json
from recognition.service import enrollment_to_json

from .answers import AnswerStore

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
    # img-src blob:: the Review tab shows suggestion crops fetched with the token (an <img> cannot send it).
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}

RECOGNIZER = web.AppKey("recognizer", Recognizer)
CONFIG = web.AppKey("config", dict)
REVIEW = web.AppKey("review", object)  # ReviewDesk | None
ANSWERS = web.AppKey("answers", AnswerStore)
WEB_APPROVER = "web"  # decided_by of approvals and rejections made with the web token
JSON_LIMIT = 4096


def create_app(
    recognizer: Recognizer,
    *,
    scope: str,
    token: str | None,
    max_bytes: int | None = None,
    review: ReviewDesk | None = None,
    answers: AnswerStore | None = None,
) -> web.Application:
    """The application over `recognizer`, serving one gallery scope. `token` None or empty: writes
    refused. `max_bytes`: the largest picture accepted (default the recognizer's decode limit).
    `review`: the corrections service (None: no suggestions; `/api/suggestions*` answer 404).
    `answers`: where recent answers are kept for corrections (default a fresh `AnswerStore`)."""
    max_bytes = int(max_bytes or recognizer.limits.max_bytes)
    body_limit = max_bytes + FORM_OVERHEAD
    app = web.Application(client_max_size=body_limit, middlewares=[_errors])
    app[RECOGNIZER] = recognizer
    app[REVIEW] = review
    app[ANSWERS] = answers if answers is not None else AnswerStore()
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
    app.router.add_post("/api/suggestions", suggest)
    app.router.add_get("/api/suggestions", list_suggestions)
    app.router.add_get("/api/suggestions/{id}/crop", suggestion_crop)
    app.router.add_post("/api/suggestions/{id}/approve", approve_suggestion)
    app.router.add_post("/api/suggestions/{id}/reject", reject_suggestion)
    app.router.add_get("/api/unknowns", list_unknowns)
    app.router.add_get("/api/unknowns/{id}/crop", unknown_crop)
    app.router.add_post("/api/unknowns/{id}/name", name_unknowns)
    app.router.add_post("/api/unknowns/{id}/dismiss", dismiss_unknowns)
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
    (ReviewLimit, 429),
    (NoSuchSuggestion, 404),
    # Other ReviewErrors (named what kaobot answered, already rejected, expired): 409 below.
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
        default = 409 if isinstance(exc, ReviewError) else 400
        status = next((code for kind, code in _STATUS if isinstance(exc, kind)), default)
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


async def _json(request: web.Request, shape: str, optional: bool = False) -> dict[str, Any]:
    """A small JSON object body (`optional`: an empty body reads as `{}`)."""
    if request.content_length is not None and request.content_length > JSON_LIMIT:
        raise _too_large(JSON_LIMIT)
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.read(JSON_LIMIT + 1 - size):  # bounded even without Content-Length
        chunks.append(chunk)
        size += len(chunk)
        if size > JSON_LIMIT:
            raise _too_large(JSON_LIMIT)
    raw = b"".join(chunks)
    if optional and not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise web.HTTPBadRequest(text=f"send JSON: {shape}") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text=f"send JSON: {shape}")
    return body


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
            "suggestions": request.app[REVIEW] is not None,
        }
    )


async def whois(request: web.Request) -> web.Response:
    form = await _form(request, {"image"})
    top_k = _int_field(form, "top_k", 1, 20)
    recognizer = request.app[RECOGNIZER]
    scope = request.app[CONFIG]["scope"]
    result = await recognizer.identify(_image(form), scope, top_k)
    height, width = result.image.shape[:2]
    body = result.to_json()
    desk: ReviewDesk | None = request.app[REVIEW]
    if desk is not None and result.faces:
        # What a correction needs (crops, vectors), kept here so the picture need not come again.
        evidence = await desk.evidence(result)
        await desk.note_unknowns(scope, evidence)  # kept only where `review.unknowns` opts the scope in
        body["answer"] = request.app[ANSWERS].put(scope, evidence)
    return web.json_response(body, headers={"X-Image-Size": f"{width}x{height}"})


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
    body = await _json(request, '{"name": "the new name"}')
    new = body.get("name")
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


# -- corrections (issue 16) -----------------------------------------------------------------------
def _desk(request: web.Request) -> ReviewDesk:
    desk = request.app[REVIEW]
    if desk is None:
        raise web.HTTPNotFound(text="corrections are off on this server (review.enabled is false)")
    return desk


def suggester(request: web.Request) -> str:
    """Who a web suggestion is from, for the desk's per-member rate limit: the client's address
    (what the visitor cannot change by typing; behind a reverse proxy, the proxy's)."""
    return f"web:{request.remote or 'unknown'}"


def _item_json(item: ReviewItem, model_id: str) -> dict[str, Any]:
    s = item.suggestion
    body = suggestion_to_json(s, model_id)
    body["crop"] = f"/api/suggestions/{s.id}/crop" if s.crop else None
    body["votes"] = item.votes
    body["best"] = None if item.best is None else {"name": item.best.name, "similarity": round(item.best.similarity, 4)}
    return body


async def suggest(request: web.Request) -> web.Response:
    """Anyone: "face N of answer A is NAME" → a pending suggestion (nothing is enrolled)."""
    desk = _desk(request)
    body = await _json(request, '{"answer": "<id from /api/whois>", "face": 1, "name": "the character"}')
    answer, number, name = body.get("answer"), body.get("face"), body.get("name")
    if not isinstance(answer, str) or not answer:
        raise web.HTTPBadRequest(text="`answer` must be the `answer` id of a /api/whois reply")
    if not isinstance(number, int) or isinstance(number, bool) or number < 1:
        raise web.HTTPBadRequest(text="`face` must be a face number (1, 2, ...)")
    if not isinstance(name, str) or not name.strip():
        raise web.HTTPBadRequest(text="`name` must be the character's name")
    scope = request.app[CONFIG]["scope"]
    faces = request.app[ANSWERS].faces(scope, answer)
    if faces is None:
        raise web.HTTPGone(
            text="that answer is no longer kept (they expire after a while): recognise the picture again"
        )
    face = next((f for f in faces if f.number == number), None)
    if face is None:
        raise web.HTTPBadRequest(text=f"that answer has {len(faces)} face(s); there is no face {number}")
    s = await desk.suggest(scope, face, name, suggester(request))
    log.info("web suggestion %s: face %d named %r", s.id, number, s.name)
    return web.json_response(
        {"id": s.id, "face": number, "name": s.name, "answer": s.answer, "status": s.status}, status=201
    )


async def list_suggestions(request: web.Request) -> web.Response:
    _require_token(request)
    desk = _desk(request)
    try:
        limit = int(request.query.get("limit", "25"))
    except ValueError:
        raise web.HTTPBadRequest(text="`limit` must be a whole number") from None
    if not 1 <= limit <= 100:
        raise web.HTTPBadRequest(text="`limit` must be from 1 to 100")
    scope = request.app[CONFIG]["scope"]
    items = await desk.pending(scope, limit)
    waiting = await desk.queue.count_pending(scope)
    model_id = request.app[RECOGNIZER].model_id
    return web.json_response({"pending": waiting, "suggestions": [_item_json(i, model_id) for i in items]})


async def suggestion_crop(request: web.Request) -> web.Response:
    _require_token(request)
    desk = _desk(request)
    s = await desk.queue.get(request.app[CONFIG]["scope"], request.match_info["id"])
    if s is None or not s.crop:
        raise web.HTTPNotFound(text="no such suggestion here")
    return web.Response(body=s.crop, content_type="image/jpeg", headers={"Cache-Control": "private, no-store"})


async def approve_suggestion(request: web.Request) -> web.Response:
    """The token holder: enrol the face as the suggested name, or as `name` ("approve as")."""
    _require_token(request)
    desk = _desk(request)
    body = await _json(request, '{"name": "the name to enrol instead"} or nothing', optional=True)
    as_name = body.get("name")
    if as_name is not None and (not isinstance(as_name, str) or not as_name.strip()):
        raise web.HTTPBadRequest(text="`name` must be a character's name (or leave it out)")
    decision = await desk.approve(request.app[CONFIG]["scope"], request.match_info["id"], WEB_APPROVER, as_name)
    return _decision_response(request, decision)


async def reject_suggestion(request: web.Request) -> web.Response:
    _require_token(request)
    desk = _desk(request)
    decision = await desk.reject(request.app[CONFIG]["scope"], request.match_info["id"], WEB_APPROVER)
    return _decision_response(request, decision)


def _decision_response(request: web.Request, decision) -> web.Response:
    """An approval's or rejection's answer: whether it changed anything, and the suggestion now."""
    model_id = request.app[RECOGNIZER].model_id
    return web.json_response(
        {"changed": decision.changed, "suggestion": suggestion_to_json(decision.suggestion, model_id)}
    )


# -- unknowns worth enrolling (review.unknowns) ---------------------------------------------------
async def list_unknowns(request: web.Request) -> web.Response:
    """The token holder: clusters of faces answered "unknown" seen `review.unknowns_min_count`+ times."""
    _require_token(request)
    desk = _desk(request)
    clusters = await desk.unknown_clusters(request.app[CONFIG]["scope"])
    return web.json_response(
        {
            "kept": desk.keeps_unknowns(request.app[CONFIG]["scope"]),
            "min_count": desk.settings.unknowns_min_count,
            "clusters": [
                {
                    "id": c.id,
                    "size": c.size,
                    "first": c.faces[0].created,
                    "last": c.faces[-1].created,
                    "crop": f"/api/unknowns/{c.representative.id}/crop",
                    "best": None
                    if c.best is None
                    else {"name": c.best.name, "similarity": round(c.best.similarity, 4)},
                }
                for c in clusters
            ],
        }
    )


async def unknown_crop(request: web.Request) -> web.Response:
    _require_token(request)
    desk = _desk(request)
    s = await desk.queue.get(request.app[CONFIG]["scope"], request.match_info["id"])
    if s is None or s.status != UNKNOWN:
        raise web.HTTPNotFound(text="no such unknown face here")
    return web.Response(body=s.crop, content_type="image/jpeg", headers={"Cache-Control": "private, no-store"})


async def name_unknowns(request: web.Request) -> web.Response:
    """The token holder: enrol every face of the cluster as `name` (each approved as a suggestion)."""
    _require_token(request)
    desk = _desk(request)
    body = await _json(request, '{"name": "the character"}')
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise web.HTTPBadRequest(text="`name` must be the character's name")
    decisions = await desk.name_unknowns(request.app[CONFIG]["scope"], request.match_info["id"], name, WEB_APPROVER)
    enrolled_as = decisions[0].suggestion.enrolled_as if decisions else name
    return web.json_response({"enrolled": sum(d.changed for d in decisions), "name": enrolled_as})


async def dismiss_unknowns(request: web.Request) -> web.Response:
    _require_token(request)
    desk = _desk(request)
    return web.json_response(
        {"dismissed": await desk.dismiss_unknowns(request.app[CONFIG]["scope"], request.match_info["id"])}
    )
