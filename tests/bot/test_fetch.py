"""The fetcher downloads from Discord only, with a streaming size cap and a deadline."""

from __future__ import annotations

import time

import aiohttp
import pytest

from bot.errors import DownloadFailed
from bot.fetch import ImageFetcher, is_discord_host


@pytest.fixture
async def session():
    async with aiohttp.ClientSession() as s:
        yield s


def fetcher(session, max_bytes=1 << 20, timeout=5.0) -> ImageFetcher:
    return ImageFetcher(session, max_bytes, timeout, allowed_host=lambda h: h == "127.0.0.1", schemes=("http",))


@pytest.mark.parametrize(
    ("host", "ok"),
    [
        ("cdn.discordapp.com", True),
        ("media.discordapp.net", True),
        ("images-ext-1.discordapp.net", True),
        ("CDN.DISCORDAPP.COM.", True),
        ("discordapp.com.evil.example", False),
        ("evil-cdn.discordapp.com", False),
        ("cdn.discordapp.com.evil.example", False),
        ("example.com", False),
        ("127.0.0.1", False),
    ],
)
def test_discord_hosts(host, ok):
    assert is_discord_host(host) is ok


async def test_production_defaults_refuse_other_hosts_and_plain_http(session):
    f = ImageFetcher(session, 1000, 1.0)
    for url in (
        "https://example.com/a.png",
        "http://cdn.discordapp.com/a.png",
        "https://user:pw@cdn.discordapp.com/a",
        "file:///etc/passwd",
        "not a url",
    ):
        with pytest.raises(DownloadFailed):
            f.check_url(url)
    assert f.check_url("https://cdn.discordapp.com/attachments/1/2/a.png").host == "cdn.discordapp.com"


async def test_fetches_an_allowed_url(session, cdn):
    url = cdn.put("a.png", b"picture bytes")
    assert await fetcher(session).fetch(url) == b"picture bytes"


async def test_other_host_is_refused_without_a_request(session, cdn):
    cdn.put("a.png", b"picture bytes")
    with pytest.raises(DownloadFailed, match="stored by Discord"):
        await fetcher(session).fetch(cdn.url("/attachments/a.png", host="localhost"))
    assert cdn.hits == []


async def test_redirect_elsewhere_is_refused(session, cdn):
    cdn.put("a.png", b"picture bytes")
    with pytest.raises(DownloadFailed, match="stored by Discord"):
        await fetcher(session).fetch(cdn.url("/redirect/away/a.png"))
    assert [path for _, path in cdn.hits] == ["/redirect/away/a.png"]  # the target was never requested


async def test_redirect_to_an_allowed_host_is_followed(session, cdn):
    cdn.put("a.png", b"picture bytes")
    assert await fetcher(session).fetch(cdn.url("/redirect/home/a.png")) == b"picture bytes"


async def test_endless_body_stops_at_the_cap(session, cdn):
    started = time.monotonic()
    with pytest.raises(DownloadFailed, match="larger than 1 MiB"):
        await fetcher(session, max_bytes=1 << 20).fetch(cdn.url("/endless"))
    assert time.monotonic() - started < 5


async def test_declared_length_over_the_cap_is_refused(session, cdn):
    url = cdn.put("big.png", b"x" * 5000)
    with pytest.raises(DownloadFailed, match="larger than"):
        await fetcher(session, max_bytes=4096).fetch(url)


async def test_slow_endless_body_hits_the_deadline(session, cdn):
    started = time.monotonic()
    with pytest.raises(DownloadFailed, match="longer than 0.5 s"):
        await fetcher(session, timeout=0.5).fetch(cdn.url("/trickle"))
    assert time.monotonic() - started < 3


async def test_http_errors_are_clear(session, cdn):
    with pytest.raises(DownloadFailed, match="HTTP 404"):
        await fetcher(session).fetch(cdn.url("/status/404"))
