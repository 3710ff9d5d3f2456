"""Load test of the Discord bot: waves of concurrent `/whois` interactions through the cog callback.

Everything kaobot builds is real (cogs, error layer, work queue, batching inference worker, fetcher,
SQLite gallery); only Discord is replaced: a loopback HTTP server stands in for its CDN and a
recorder for the interaction (one response, follow-ups only after it, as Discord enforces).

    python -m tools.load_test --requests 2000 --concurrency 200 --duration 120

Bounded in count (`--requests`, at most 100,000) and time (`--duration`: no wave starts after
it); nothing leaves 127.0.0.1. Prints p50/p95 latency, answered / busy / failed counts and the
peak of traced Python memory (`tracemalloc`, which slows the run: `--no-trace` to skip it).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import itertools
import tempfile
import time
import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import discord
import numpy as np
from aiohttp import web
from discord import app_commands
from PIL import Image, PngImagePlugin

from bot.client import Kaobot, Services
from bot.errors import BUSY
from bot.fetch import ImageFetcher
from bot.limits import Cooldowns, RateLimits, WorkQueue
from bot.watchlist import WatchList
from recognition import Settings, build_recognizer
from tools.make_examples import ALICE, BELLA
from training.drawing import draw_scene

MAX_REQUESTS = 100_000
GUILD = 111111111111111111


def picture(style=ALICE, side: int = 160, padding: int = 0) -> bytes:
    """A small PNG with one drawn face; `padding` bytes in a private ancillary chunk (which
    decoders skip) make the body as large as a photo's without more pixels to analyse."""
    image = Image.fromarray(draw_scene([(side // 2, side // 2, int(side * 0.7), style)], size=(side, side)))
    info = PngImagePlugin.PngInfo()
    if padding:
        info.add(b"paDd", np.random.default_rng(0).bytes(padding))
    out = io.BytesIO()
    image.save(out, format="PNG", pnginfo=info)
    return out.getvalue()


class LoopbackCDN:
    """Serves the pictures on 127.0.0.1 only."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.runner: web.AppRunner | None = None
        self.base = ""

    async def __aenter__(self) -> LoopbackCDN:
        app = web.Application()
        app.router.add_get("/attachments/{name}", self._file)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        self.base = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.runner.cleanup()

    async def _file(self, request: web.Request) -> web.Response:
        return web.Response(body=self.files[request.match_info["name"]], content_type="image/png")

    def attachment(self, name: str) -> discord.Attachment:
        data = self.files[name]
        payload = {"id": "1", "size": len(data), "filename": name, "url": f"{self.base}/attachments/{name}"}
        payload["proxy_url"], payload["content_type"] = payload["url"], "image/png"
        return discord.Attachment(data=payload, state=SimpleNamespace(http=None))


class _Response:
    def __init__(self, owner: RecordedInteraction) -> None:
        self.owner = owner

    def is_done(self) -> bool:
        return self.owner.responded

    async def defer(self, **kwargs: Any) -> None:
        self.owner.respond(None)

    async def send_message(self, content: str | None = None, **kwargs: Any) -> None:
        self.owner.respond((content, len(kwargs.get("embeds") or ())))


class _Followup:
    def __init__(self, owner: RecordedInteraction) -> None:
        self.owner = owner

    async def send(self, content: str | None = None, **kwargs: Any) -> None:
        if not self.owner.responded:
            raise RuntimeError("follow-up before any response")  # Discord: 404 Unknown Webhook
        self.owner.answers.append((content, len(kwargs.get("embeds") or ())))


@dataclass
class RecordedInteraction:
    """The parts of `discord.Interaction` the commands use; records what would reach the user."""

    user_id: int
    command: Any = None
    guild_id: int = GUILD
    filesize_limit: int = 10 * 1024 * 1024
    permissions: discord.Permissions = field(default_factory=discord.Permissions.none)
    responded: bool = False
    latency: float = 0.0
    # (text, number of embeds) of each answer; the pictures are dropped so the recorder holds no memory
    answers: list[tuple[str | None, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.user = SimpleNamespace(id=self.user_id, roles=[])
        self.response = _Response(self)
        self.followup = _Followup(self)

    def respond(self, message: tuple[str | None, int] | None) -> None:
        if self.responded:
            raise discord.InteractionResponded(self)  # type: ignore[arg-type]
        self.responded = True
        if message is not None:
            self.answers.append(message)

    async def delete_original_response(self) -> None:
        return None

    @property
    def outcome(self) -> str:
        """`result`, `busy`, or `failed` (anything else, including no answer or several)."""
        if len(self.answers) != 1:
            return "failed"
        text, embeds = self.answers[0]
        if embeds:
            return "result"
        return "busy" if text.startswith(BUSY.split(";")[0]) else "failed"  # "busy; try again in N s"


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


@dataclass
class LoadReport:
    interactions: list[RecordedInteraction]
    peak_bytes: int | None
    seconds: float

    def count(self, outcome: str) -> int:
        return sum(1 for i in self.interactions if i.outcome == outcome)

    def latencies(self, outcome: str | None = None) -> list[float]:
        return [i.latency for i in self.interactions if outcome is None or i.outcome == outcome]

    def summary(self) -> str:
        ms = {
            k: (percentile(self.latencies(k), 50) * 1000, percentile(self.latencies(k), 95) * 1000)
            for k in ("result", "busy", None)
        }
        peak = "not traced" if self.peak_bytes is None else f"{self.peak_bytes / 2**20:.1f} MiB"
        return (
            f"{len(self.interactions)} /whois in {self.seconds:.1f} s: {self.count('result')} answered, "
            f"{self.count('busy')} busy, {self.count('failed')} failed\n"
            f"latency p50/p95: answered {ms['result'][0]:.0f}/{ms['result'][1]:.0f} ms, "
            f"busy {ms['busy'][0]:.0f}/{ms['busy'][1]:.0f} ms, all {ms[None][0]:.0f}/{ms[None][1]:.0f} ms\n"
            f"peak traced memory: {peak}"
        )


@contextlib.asynccontextmanager
async def loopback_bot(settings: Settings, session: aiohttp.ClientSession):
    """A bot built as `bot.runner` builds it, downloading from 127.0.0.1 only."""
    recognizer = build_recognizer(settings, batching=True)
    services = Services(
        settings=settings,
        recognizer=recognizer,
        fetcher=ImageFetcher(
            session, settings.limits.max_bytes, 20.0, allowed_host=lambda h: h == "127.0.0.1", schemes=("http",)
        ),
        watchlist=await WatchList.open(settings.bot_state_path),
        queue=WorkQueue(settings.inference.max_pending),
        limits=RateLimits(Cooldowns(10**9, 1.0)),  # every request is another user anyway; no server limit
    )
    bot = Kaobot(services)
    try:
        await bot.setup_hook()
        yield bot
    finally:
        await bot.close()
        await recognizer.close()


async def whois(bot: Kaobot, interaction: RecordedInteraction, image: discord.Attachment) -> None:
    """One `/whois` as `CommandTree` runs it (failures go to the tree's `on_error`), timed."""
    command = bot.get_cog("Whois").whois
    interaction.command = command
    started = time.perf_counter()
    try:
        await command.callback(command.binding, interaction, image)
    except Exception as exc:
        await bot.tree.on_error(interaction, app_commands.CommandInvokeError(command, exc))  # type: ignore[arg-type]
    interaction.latency = time.perf_counter() - started


async def run_load(
    settings: Settings, requests: int, concurrency: int, duration: float, *, padding: int = 0, trace: bool = True
) -> LoadReport:
    """Waves of `concurrency` simultaneous `/whois` until `requests` are sent or `duration` passed."""
    requests = max(1, min(requests, MAX_REQUESTS))
    files = {"alice.png": picture(ALICE, padding=padding), "bella.png": picture(BELLA, padding=padding)}
    async with LoopbackCDN(files) as cdn, aiohttp.ClientSession() as session:
        async with loopback_bot(settings, session) as bot:
            enrol = picture(ALICE, side=200)
            await bot.services.recognizer.enroll("Alice", enrol, str(GUILD))
            users = itertools.count(1)
            interactions: list[RecordedInteraction] = []
            if trace:
                tracemalloc.start()
            started = time.monotonic()
            try:
                while len(interactions) < requests and time.monotonic() - started < duration:
                    wave = [
                        RecordedInteraction(next(users)) for _ in range(min(concurrency, requests - len(interactions)))
                    ]
                    names = itertools.cycle(files)
                    await asyncio.gather(*(whois(bot, i, cdn.attachment(next(names))) for i in wave))
                    interactions += wave
                peak = tracemalloc.get_traced_memory()[1] if trace else None
            finally:
                if trace:
                    tracemalloc.stop()
            seconds = time.monotonic() - started
    return LoadReport(interactions, peak, seconds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000, help=f"total interactions (at most {MAX_REQUESTS})")
    parser.add_argument("--concurrency", type=int, default=200, help="interactions started at once (one wave)")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds after which no wave starts")
    parser.add_argument("--max-pending", type=int, default=None, help="inference.max_pending (default: config)")
    parser.add_argument("--padding-kb", type=int, default=0, help="extra bytes per picture body, in KiB")
    parser.add_argument("--no-trace", action="store_true", help="do not trace memory (faster)")
    args = parser.parse_args(argv)
    settings = Settings()
    if args.max_pending is not None:
        settings.inference.max_pending = args.max_pending
    with tempfile.TemporaryDirectory(prefix="kaobot-load-") as tmp:
        settings.data_dir = str(Path(tmp) / "data")
        report = asyncio.run(
            run_load(
                settings,
                args.requests,
                args.concurrency,
                args.duration,
                padding=args.padding_kb * 1024,
                trace=not args.no_trace,
            )
        )
    print(report.summary())
    return 0 if report.count("failed") == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
