"""Fixtures of the bot tests: a real kaobot (real Recognizer, SQLite gallery, watch list, fetcher)
talking to a local stand-in for Discord's CDN."""

from __future__ import annotations

import logging

import aiohttp
import pytest

from bot.client import Kaobot, Services
from bot.fetch import ImageFetcher
from bot.limits import Cooldowns, RateLimits, WorkQueue
from bot.runner import review_desk
from bot.watchlist import WatchList
from recognition import Settings, build_recognizer

from .support import ADMIN_ROLE, FakeCDN


@pytest.fixture
async def cdn():
    async with FakeCDN() as server:
        yield server


def local_fetcher(session: aiohttp.ClientSession, settings: Settings, timeout: float = 5.0) -> ImageFetcher:
    """The production fetcher, allowed to reach the local CDN stand-in only."""
    return ImageFetcher(
        session, settings.limits.max_bytes, timeout, allowed_host=lambda host: host == "127.0.0.1", schemes=("http",)
    )


@pytest.fixture
def bot_settings(settings: Settings) -> Settings:
    settings.bot.admin_role = ADMIN_ROLE
    return settings


class BotFactory:
    """Builds bots the way `bot.runner` does; `restart()` gives a fresh bot on the same data dir."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.session: aiohttp.ClientSession | None = None
        self.bots: list[Kaobot] = []

    async def start(self, queue_capacity: int = 8, cooldown_uses: int = 100, server_uses: int = 0) -> Kaobot:
        if self.session is None:
            self.session = aiohttp.ClientSession()
        recognizer = build_recognizer(self.settings, batching=True)
        services = Services(
            settings=self.settings,
            recognizer=recognizer,
            fetcher=local_fetcher(self.session, self.settings),
            watchlist=await WatchList.open(self.settings.bot_state_path),
            queue=WorkQueue(queue_capacity),
            limits=RateLimits(Cooldowns(cooldown_uses, 60.0), Cooldowns(server_uses, 60.0) if server_uses else None),
            review=review_desk(self.settings, recognizer),
        )
        bot = Kaobot(services)
        await bot.setup_hook()  # loads the cogs, as after login
        self.bots.append(bot)
        return bot

    async def stop(self, bot: Kaobot) -> None:
        self.bots.remove(bot)
        await bot.close()
        await bot.services.recognizer.close()

    async def close(self) -> None:
        for bot in list(self.bots):
            await self.stop(bot)
        if self.session is not None:
            await self.session.close()


@pytest.fixture
async def bots(bot_settings):
    factory = BotFactory(bot_settings)
    yield factory
    await factory.close()


@pytest.fixture
async def kaobot(bots):
    return await bots.start()


@pytest.fixture
def restore_logging():
    """Undo `bot.logs.setup_logging` (which `kaobot bot` calls) after a test."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
