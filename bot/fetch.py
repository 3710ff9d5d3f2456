"""Downloads from Discord only: attachment CDN and Discord's media proxy.

Every URL (and every redirect target) is checked before a request is made; the body is read in
chunks and abandoned as soon as it passes the size cap; the whole download has a deadline.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable

import aiohttp
from yarl import URL

from .errors import DownloadFailed

log = logging.getLogger(__name__)

CHUNK = 64 * 1024
REDIRECTS = {301, 302, 303, 307, 308}
# Attachments live on the CDN; `proxy_url`s of attachments and embedded images on the media proxy.
_DISCORD_HOST = re.compile(r"(cdn\.discordapp\.com|media\.discordapp\.net|images-ext-[0-9]+\.discordapp\.net)")


def human_size(n: int) -> str:
    """`26214400` → `25 MiB`."""
    for unit in ("bytes", "KiB", "MiB"):
        if n < 1024 or unit == "MiB":
            return f"{n:g} {unit}" if unit == "bytes" else f"{n:.3g} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def is_discord_host(host: str) -> bool:
    """Whether a host name (ASCII, as connected to: punycode for others) is Discord's CDN or media proxy."""
    return host.isascii() and bool(_DISCORD_HOST.fullmatch(host.lower().rstrip(".")))


class ImageFetcher:
    """Fetches picture bytes from allowed hosts with a streaming size cap and a timeout.

    `allowed_host` and `schemes` exist for tests (a local server); production uses the defaults.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        max_bytes: int,
        timeout: float,
        *,
        allowed_host: Callable[[str], bool] = is_discord_host,
        schemes: tuple[str, ...] = ("https",),
        max_redirects: int = 2,
    ) -> None:
        self.session = session
        self.max_bytes = max_bytes
        self.timeout = timeout
        self.allowed_host = allowed_host
        self.schemes = schemes
        self.max_redirects = max_redirects

    def check_url(self, url: str | URL) -> URL:
        """The parsed URL, or `DownloadFailed` when it does not point at Discord."""
        try:
            parsed = URL(str(url))
        except (ValueError, TypeError):
            raise DownloadFailed("That link is not a valid URL.") from None
        # `raw_host` is the name connected to (punycode); `host` would decode it back to Unicode.
        if parsed.scheme not in self.schemes or not parsed.raw_host or not self.allowed_host(parsed.raw_host):
            log.info("refused to fetch from host %r", parsed.raw_host)
            raise DownloadFailed("I only download pictures stored by Discord itself.")
        if parsed.user or parsed.password:
            raise DownloadFailed("I only download pictures stored by Discord itself.")
        return parsed

    async def fetch(self, url: str) -> bytes:
        """The body at `url`, following at most `max_redirects` redirects, each to an allowed host."""
        try:
            return await asyncio.wait_for(self._fetch(url), self.timeout)
        except asyncio.TimeoutError:
            raise DownloadFailed(f"Downloading the picture took longer than {self.timeout:g} s.") from None
        except aiohttp.ClientError as exc:
            log.info("download failed: %s", type(exc).__name__)
            raise DownloadFailed("I could not download the picture from Discord.") from None

    async def _fetch(self, url: str) -> bytes:
        target = self.check_url(url)
        for _ in range(self.max_redirects + 1):
            async with self.session.get(target, allow_redirects=False) as resp:
                if resp.status in REDIRECTS:
                    location = resp.headers.get("Location")
                    if not location:
                        raise DownloadFailed("Discord sent a redirect without a target.")
                    target = self.check_url(self._redirect_target(target, location))
                    continue
                if resp.status != 200:
                    raise DownloadFailed(f"Discord answered HTTP {resp.status} for the picture.")
                if resp.content_length is not None and resp.content_length > self.max_bytes:
                    raise self._too_large()
                body = bytearray()
                async for chunk in resp.content.iter_chunked(CHUNK):
                    body += chunk
                    if len(body) > self.max_bytes:
                        raise self._too_large()
                return bytes(body)
        raise DownloadFailed("Discord redirected the download too many times.")

    @staticmethod
    def _redirect_target(base: URL, location: str) -> URL:
        """Where a redirect points; a `Location` that does not parse is refused like any bad URL."""
        try:
            return base.join(URL(location))
        except (ValueError, TypeError):
            raise DownloadFailed("Discord redirected the download to an invalid address.") from None

    def _too_large(self) -> DownloadFailed:
        return DownloadFailed(f"The picture is larger than {human_size(self.max_bytes)}.")
