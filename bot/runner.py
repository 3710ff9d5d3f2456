"""The composition root of `kaobot bot`: builds every resource, owns its lifetime, shuts down on
SIGINT/SIGTERM. The bot class receives the resources and never creates its own clients."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

import aiohttp
import discord

from recognition import KaobotError, Settings, build_recognizer
from recognition.review.service import ReviewDesk

from .client import Kaobot, Services
from .fetch import ImageFetcher
from .limits import RateLimits, WorkQueue
from .watchlist import WatchList

log = logging.getLogger(__name__)

BAD_TOKEN = (
    "Discord rejected the token in DISCORD_TOKEN. Copy the bot token again from the Discord developer "
    "portal (Application → Bot → Reset Token)."
)
NO_INTENT = (
    "Discord refused the message content intent. Enable it in the developer portal (Application → Bot → "
    "Privileged Gateway Intents → Message Content Intent), or set `bot.message_content: false` in the "
    "configuration to run without watched channels."
)


async def run_bot(settings: Settings, token: str, *, sync: str | None = None) -> None:
    """Run until SIGINT/SIGTERM (or a fatal error), then close the bot, the HTTP session and the
    recognizer (its inference worker threads and the gallery), in that order."""
    bot_settings = settings.bot
    try:
        # The batching worker bounds the heavy work (`inference.threads`, `inference.max_pending`).
        recognizer = build_recognizer(settings, batching=True)
        watchlist = await WatchList.open(settings.bot_state_path)
        timeout = aiohttp.ClientTimeout(total=bot_settings.download_timeout)
        async with recognizer, aiohttp.ClientSession(timeout=timeout) as session:
            notice = await recognizer.stale_notice()
            if notice:
                log.warning("%s Until then /whois answers only from faces of the configured model.", notice)
            services = Services(
                settings=settings,
                recognizer=recognizer,
                fetcher=ImageFetcher(session, settings.limits.max_bytes, bot_settings.download_timeout),
                watchlist=watchlist,
                queue=WorkQueue(settings.inference.max_pending),
                limits=RateLimits.from_settings(bot_settings),
                review=review_desk(settings, recognizer),
            )
            async with Kaobot(services, sync=sync) as bot:
                await _serve(bot, token)
    finally:
        log.info("kaobot stopped")


def review_desk(settings: Settings, recognizer) -> ReviewDesk | None:
    """The corrections service over the recognizer's review queue, unless `review.enabled` is false."""
    if not settings.review.enabled or recognizer.review_queue is None:
        return None
    return ReviewDesk(recognizer, recognizer.review_queue, settings.review)


async def _serve(bot: Kaobot, token: str) -> None:
    """`bot.start` until it ends or a signal arrives; Discord's refusals become clear `KaobotError`s."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    signals = (signal.SIGINT, signal.SIGTERM)
    for sig in signals:
        loop.add_signal_handler(sig, stop.set)
    start = asyncio.create_task(bot.start(token), name="kaobot-start")
    stopped = asyncio.create_task(stop.wait(), name="kaobot-stop")
    try:
        await asyncio.wait({start, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if start.done():
            start.result()  # login refused, gateway failure, or the bot closed itself
        else:
            log.info("signal received: shutting down")
            await bot.close()  # closes the gateway and Discord's HTTP session; `start` is cancelled below
    except discord.LoginFailure:
        raise KaobotError(BAD_TOKEN) from None
    except discord.PrivilegedIntentsRequired:
        raise KaobotError(NO_INTENT) from None
    except (aiohttp.ClientError, OSError) as exc:
        raise KaobotError(f"cannot reach Discord: {type(exc).__name__}: {exc}") from None
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)
        for task in (start, stopped):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
