"""Property-based fuzzing of the bot's input paths: attachment metadata, picture sources in
messages and embeds, URLs and redirects, replies with names in any script, admin commands with any
names. The only outcomes are a result or the clean error type, and every reply fits Discord's limits.

`KAOBOT_FUZZ_EXAMPLES` (default 150 here; slow properties run a sixth of it, URL checks twice it)
raises the example counts for long runs.
"""

from __future__ import annotations

import os
import re
from pathlib import PurePosixPath

import discord
import numpy as np
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from hypothesis import HealthCheck, given, settings, target
from hypothesis import strategies as st

from bot.errors import BadAttachment, DownloadFailed
from bot.fetch import ImageFetcher
from bot.replies import character_pages, enrolled_reply, face_line, identifications_reply, picker_reply
from bot.sources import IMAGE_EXTENSIONS, IMAGE_TYPES, attachment_source, message_sources
from recognition.gallery import Candidate, CharacterInfo, clean_name
from recognition.service import Enrollment, FaceResult, Identification

from . import discord_limits
from .support import GUILD_A, admin_interaction, attachment, fake_interaction, fake_message, invoke

EXAMPLES = int(os.environ.get("KAOBOT_FUZZ_EXAMPLES", "150"))
FAST = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(
    max_examples=max(20, EXAMPLES // 6),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
MAX_BYTES = 25 * 1024 * 1024
# Discord's hosts, written out independently of bot.fetch's pattern.
DISCORD_HOSTS = {"cdn.discordapp.com", "media.discordapp.net"}
MEDIA_PROXY = re.compile(r"images-ext-[0-9]+\.discordapp\.net")

# -- strategies ---------------------------------------------------------------------------------

any_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=120)
markdown = st.text(alphabet="*_~`|>\\@#<:!/ \n", max_size=60)
# Long texts are cheap to draw as a repeated character.
long_text = st.builds(lambda c, n: c * n, st.characters(blacklist_categories=("Cs",)), st.integers(0, 3000))
names = st.one_of(
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=100),
    markdown,
    st.text(alphabet="アリスБеллаالعربية中文字😀‮\u200b", max_size=100),
).filter(lambda n: " ".join(n.split()) != "")

hosts = st.one_of(
    st.sampled_from(
        [
            "cdn.discordapp.com",
            "media.discordapp.net",
            "images-ext-1.discordapp.net",
            "images-ext-١.discordapp.net",  # an Arabic-Indic digit
            "CDN.DISCORDAPP.COM.",
            "cdn．discordapp．com",  # full-width dots
            "cdn.discordapp.com.evil.example",
            "evil-cdn.discordapp.com",
            "cdn.discordapp.com%2eevil.example",
            "cdn.dіscordapp.com",  # Cyrillic і
            "discordapp.com",
            "example.com",
            "127.0.0.1",
            "[::1]",
            "169.254.169.254",
            "localhost",
            "",
        ]
    ),
    st.text(max_size=30),
)
urls = st.one_of(
    st.text(max_size=200),
    st.builds(
        lambda scheme, user, host, port, path: f"{scheme}{user}{host}{port}{path}",
        st.sampled_from(["https://", "http://", "HTTPS://", "//", "file://", "javascript:", "ftp://", "https:/", ""]),
        st.sampled_from(["", "user@", "user:pw@", "cdn.discordapp.com@", "@"]),
        hosts,
        st.sampled_from(["", ":443", ":8443", ":0", ":99999", ":x"]),
        st.one_of(
            st.sampled_from(
                ["/attachments/1/2/a.png", "", "/", "#@evil.example", "?u=https://evil.example", "\\@evil"]
            ),
            st.text(max_size=40),
        ),
    ),
)


def _accepted_host_is_discord(url) -> None:
    assert url.scheme == "https" and not url.user and not url.password
    host = url.raw_host.rstrip(".").lower()  # the name actually connected to
    assert host.isascii() and url.host.rstrip(".").lower() == host
    assert host in DISCORD_HOSTS or MEDIA_PROXY.fullmatch(host), host


# -- attachment metadata ------------------------------------------------------------------------


@FAST
@given(
    filename=st.one_of(any_text, st.sampled_from(["a.png", "A.JPEG", "x.webp", ".png", "a.png.exe", "a.exe.png"])),
    content_type=st.one_of(
        st.none(),
        st.just(""),
        st.sampled_from(sorted(IMAGE_TYPES) + ["IMAGE/PNG; charset=x", "image/svg+xml", "text/html", "image/png\n"]),
        any_text,
    ),
    size=st.one_of(st.integers(-1, 2**63), st.sampled_from([MAX_BYTES, MAX_BYTES + 1, 0])),
)
def test_attachment_metadata(filename, content_type, size):
    att = attachment("https://cdn.discordapp.com/attachments/1/2/x", filename, size=size, content_type=content_type)
    try:
        source = attachment_source(att, MAX_BYTES)
    except BadAttachment as exc:
        text = str(exc)
        assert text and len(text) <= discord_limits.CONTENT, len(text)
        return
    assert source.url == att.url and size <= MAX_BYTES
    if content_type:
        assert content_type.split(";")[0].strip().lower() in IMAGE_TYPES
    else:
        assert PurePosixPath(filename).suffix.lower() in IMAGE_EXTENSIONS


# -- picture sources in messages and embeds -----------------------------------------------------

media = st.one_of(
    st.none(), st.fixed_dictionaries({"url": urls}, optional={"proxy_url": urls, "width": st.integers(0, 10**5)})
)


@FAST
@given(
    attachments=st.lists(st.tuples(urls, names, st.sampled_from(["image/png", "text/plain", None])), max_size=5),
    embeds=st.lists(st.tuples(st.one_of(st.none(), urls), media, media), max_size=5),
    limit=st.integers(1, 10),
)
def test_message_sources_only_ever_reach_discord(attachments, embeds, limit):
    """Whatever URL text a message carries, only attachment URLs and embed proxy URLs are picked,
    and the fetcher's check lets through nothing but Discord's CDN and media proxy over HTTPS."""
    atts = [attachment(u, f or "x", content_type=t) for u, f, t in attachments]
    embed_objs = []
    for link, image, thumbnail in embeds:
        data = {"type": "rich"}
        if link is not None:
            data["url"] = link
        if image is not None:
            data["image"] = image
        if thumbnail is not None:
            data["thumbnail"] = thumbnail
        embed_objs.append(discord.Embed.from_dict(data))
    allowed = {a.url for a in atts} | {m.get("proxy_url") for _, i, t in embeds for m in (i, t) if m}
    try:
        sources = message_sources(fake_message(atts, embed_objs), MAX_BYTES, limit)
    except BadAttachment as exc:
        assert str(exc)
        return
    assert 1 <= len(sources) <= limit
    fetcher = ImageFetcher(None, MAX_BYTES, 1.0)  # production defaults; check_url makes no request
    for source in sources:
        assert source.url in allowed
        try:
            _accepted_host_is_discord(fetcher.check_url(source.url))
        except DownloadFailed:
            pass


@settings(max_examples=EXAMPLES * 2, deadline=None)
@given(urls)
def test_check_url_accepts_only_discord(url):
    fetcher = ImageFetcher(None, MAX_BYTES, 1.0)
    try:
        parsed = fetcher.check_url(url)
    except DownloadFailed as exc:
        assert str(exc) in ("That link is not a valid URL.", "I only download pictures stored by Discord itself.")
        return
    _accepted_host_is_discord(parsed)


# -- redirects with any Location ----------------------------------------------------------------


class Redirector:
    """A loopback server that answers `/go` with a redirect to whatever `location` is set to."""

    def __init__(self) -> None:
        self.location = ""
        self.requests: list[str] = []
        app = web.Application()
        app.router.add_get("/go", self._go)
        app.router.add_get("/{tail:.*}", self._any)
        self.server = TestServer(app, host="127.0.0.1")

    async def _go(self, request: web.Request) -> web.Response:
        self.requests.append(str(request.rel_url))
        return web.Response(status=302, headers={"Location": self.location})

    async def _any(self, request: web.Request) -> web.Response:
        self.requests.append(str(request.rel_url))
        return web.Response(body=b"picture")


@pytest.fixture
async def redirector():
    r = Redirector()
    await r.server.start_server()
    yield r
    await r.server.close()


@pytest.fixture
async def session():
    import aiohttp

    async with aiohttp.ClientSession() as s:
        yield s


header_safe = st.text(alphabet=st.characters(min_codepoint=0x20, blacklist_categories=("Cs",)), max_size=80)


@SLOW
@given(
    location=st.one_of(
        header_safe,
        urls.filter(lambda u: all(ord(c) >= 0x20 for c in u)),
        st.sampled_from(["http://[", "//[::1", "http://127.0.0.1:99999/", "http://127.0.0.1:x/", "/elsewhere"]),
    )
)
async def test_redirect_to_any_location(redirector, session, location):
    """A redirect is followed only to an allowed host; any other target, or one that does not
    parse, is a `DownloadFailed` — never another exception."""
    redirector.location = location
    redirector.requests.clear()
    fetcher = ImageFetcher(session, 1 << 20, 5.0, allowed_host=lambda h: h == "127.0.0.1", schemes=("http",))
    try:
        body = await fetcher.fetch(redirector.server.make_url("/go"))
    except DownloadFailed:
        return
    assert body == b"picture"
    assert redirector.requests[0] == "/go" and len(redirector.requests) == 2


# -- replies with names in any script -----------------------------------------------------------

candidates = st.builds(
    Candidate,
    name=names.map(clean_name),
    similarity=st.floats(-1, 1),
    series=st.one_of(st.none(), any_text, long_text),
    link=st.one_of(st.none(), urls, long_text),
)


@st.composite
def identifications(draw) -> Identification:
    """Up to 20 faces; each lists up to 10 candidates taken from one drawn pool (cheap to draw)."""
    pool = draw(st.lists(candidates, max_size=10))
    faces = []
    for number in range(1, draw(st.integers(0, 20)) + 1):
        cands = pool[: draw(st.integers(0, len(pool)))]
        known = bool(cands) and draw(st.booleans())
        faces.append(
            FaceResult(
                number=number,
                box=(2 * number, 2, 2 * number + 10, 20),
                detection_score=0.9,
                name=cands[0].name if known else None,
                similarity=cands[0].similarity if cands else None,
                candidates=cands,
            )
        )
    return Identification(np.full((48, 64, 3), 200, np.uint8), faces)


@SLOW
@given(
    results=st.lists(st.tuples(names, st.one_of(identifications(), any_text, long_text)), min_size=1, max_size=10),
    candidates_shown=st.booleans(),
)
def test_identification_replies_fit_discord(results, candidates_shown):
    titles = [(t[:100], r) for t, r in results]
    # Steer the search towards long answers (many faces, candidates, long names and series).
    target(float(sum(len(face_line(f, True)) for _, r in titles if isinstance(r, Identification) for f in r.faces)))
    reply = identifications_reply(titles, limit=8 * 1024 * 1024, candidates=candidates_shown)
    assert discord_limits.problems(reply.send_kwargs()) == []
    assert len(reply.embeds) == min(10, len(results))
    for embed, (_, result) in zip(reply.embeds, titles):
        if isinstance(result, Identification) and result.faces:
            # The first face is always shown, its name escaped so no markdown can break out.
            first = result.faces[0]
            shown = discord.utils.escape_markdown(first.name) if first.name else "unknown"
            assert embed.description.startswith("**1** · ") and shown[:50] in embed.description


@SLOW
@given(
    characters=st.lists(
        st.builds(
            CharacterInfo,
            name=names.map(clean_name),
            faces=st.integers(1, 10**6),
            series=st.one_of(st.none(), any_text, long_text),
        ),
        max_size=40,
        unique_by=lambda c: c.name,
    )
)
def test_character_pages_list_every_name_within_discord_limits(characters):
    pages = character_pages(characters)
    for page in pages:
        assert discord_limits.problems({"embed": page}) == []
    listed = "\n".join(p.description for p in pages)
    for c in characters:
        assert f"**{discord.utils.escape_markdown(c.name)}** · {c.faces} face" in listed


@FAST
@given(name=names.map(clean_name), number=st.integers(1, 50), stored=st.integers(1, 10**6))
def test_enrolment_replies_fit_discord(name, number, stored):
    reply = enrolled_reply(Enrollment(name, "g", number, (0, 0, 9, 9), "id", max(number, 50)), stored)
    assert discord_limits.problems(reply.send_kwargs()) == []
    picker = picker_reply(np.zeros((40, 60, 3), np.uint8), [(1, 1, 20, 20)] * 2, name, limit=1 << 20)
    assert discord_limits.problems(picker.send_kwargs()) == []
    assert discord.utils.escape_markdown(name) in picker.embeds[0].title


# -- admin commands with any names, end to end --------------------------------------------------


@SLOW
@given(old=names, new=names, forget=names)
async def test_admin_commands_with_any_names(kaobot, old, new, forget):
    """`/rename` and `/forget` through their callbacks: a reply or a clean refusal, never the
    "something went wrong" answer; what is stored keeps its name exactly."""
    from recognition.gallery import FaceRecord

    recognizer = kaobot.services.recognizer
    scope = str(GUILD_A)
    await recognizer.gallery.clear(scope)
    stored = clean_name(old)
    vector = np.random.default_rng(0).normal(size=recognizer.embedder.dim)
    await recognizer.gallery.add([FaceRecord(scope, stored, recognizer.model_id, vector, "src", (0, 0, 9, 9))])
    admin = kaobot.get_cog("Admin")

    rename = admin_interaction()
    await invoke(kaobot, admin.rename, rename, old, new)
    forgetting = admin_interaction()
    await invoke(kaobot, admin.forget, forgetting, forget)
    listing = fake_interaction()
    await invoke(kaobot, admin.characters, listing)

    for fake in (rename, forgetting, listing):
        (sent,) = fake.sent
        assert not sent.text.startswith("Something went wrong"), sent.text
        assert discord_limits.problems(sent.kwargs) == []
    final = {c.name for c in await recognizer.characters(scope)}
    expected = {clean_name(new)} - {clean_name(forget)}
    assert final == expected
