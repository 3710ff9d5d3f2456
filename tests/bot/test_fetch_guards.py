"""The fetcher's Content-Length pre-check and redirect limit, each with a test that fails without
it (checked by removing the guard: the download then waits for the deadline instead)."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.errors import DownloadFailed
from bot.fetch import ImageFetcher


class Server:
    """`/declared`: headers promise 10 MB, then the body stalls (only the pre-check refuses it at
    once). `/loop/N`: redirects to `/loop/N+1` on the same allowed host, for ever."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.sent_body = 0
        app = web.Application()
        app.router.add_get("/declared", self._declared)
        app.router.add_get("/loop/{n}", self._loop)
        self.server = TestServer(app, host="127.0.0.1")

    async def _declared(self, request: web.Request) -> web.StreamResponse:
        self.paths.append(request.path)
        response = web.StreamResponse(headers={"Content-Length": str(10_000_000)})
        await response.prepare(request)
        try:
            await response.write(b"\0" * 1024)
            self.sent_body += 1024
            await asyncio.sleep(30)  # a slow sender: the streaming cap alone would wait for it
        except (ConnectionError, RuntimeError, asyncio.CancelledError):
            pass
        return response

    async def _loop(self, request: web.Request) -> web.Response:
        self.paths.append(request.path)
        n = int(request.match_info["n"])
        raise web.HTTPFound(f"http://127.0.0.1:{self.server.port}/loop/{n + 1}")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.port}{path}"


@pytest.fixture
async def server():
    s = Server()
    await s.server.start_server()
    yield s
    await s.server.close()


@pytest.fixture
async def session():
    async with aiohttp.ClientSession() as s:
        yield s


def fetcher(session, **kw) -> ImageFetcher:
    return ImageFetcher(
        session, kw.pop("max_bytes", 1 << 20), kw.pop("timeout", 5.0),
        allowed_host=lambda h: h == "127.0.0.1", schemes=("http",), **kw,
    )  # fmt: skip


async def test_declared_length_over_the_cap_is_refused_before_reading_the_body(session, server):
    started = time.monotonic()
    with pytest.raises(DownloadFailed, match=r"^The picture is larger than 1 MiB\.$"):
        await fetcher(session, timeout=5.0).fetch(server.url("/declared"))
    assert time.monotonic() - started < 2  # at once: without the pre-check it waits for the 5 s deadline
    assert server.paths == ["/declared"]


async def test_redirects_stop_at_the_limit(session, server):
    started = time.monotonic()
    with pytest.raises(DownloadFailed, match=r"^Discord redirected the download too many times\.$"):
        await fetcher(session, max_redirects=2, timeout=5.0).fetch(server.url("/loop/0"))
    assert server.paths == ["/loop/0", "/loop/1", "/loop/2"]  # the first request and 2 redirects, no more
    assert time.monotonic() - started < 2


async def test_the_redirect_limit_is_configurable(session, server):
    with pytest.raises(DownloadFailed, match="too many times"):
        await fetcher(session, max_redirects=0).fetch(server.url("/loop/0"))
    assert server.paths == ["/loop/0"]
