"""`kaobot web`: serve the page and the JSON API (a command group of `tools.cli`)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal

from recognition import build_recognizer, load_settings
from recognition.review.service import ReviewDesk

from .app import TOKEN_VARIABLE

log = logging.getLogger(__name__)


async def serve(settings, host: str, port: int, scope: str, token: str | None) -> None:
    """Serve until SIGINT/SIGTERM, then stop the site and close the recognizer (its inference worker
    and the gallery), in that order."""
    from aiohttp import web

    from .app import create_app

    # The batching worker bounds the heavy work (`inference.threads`, `inference.max_pending`), as in the bot.
    recognizer = build_recognizer(settings, batching=True)
    async with recognizer:
        await recognizer.worker.start()  # threads (or processes and their models) now, not on a user's request
        # Corrections ("Correct a name", the Review tab) unless `review.enabled` is false, as in the bot.
        desk = (
            ReviewDesk(recognizer, recognizer.review_queue, settings.review)
            if settings.review.enabled and recognizer.review_queue is not None
            else None
        )
        app = create_app(recognizer, scope=scope, token=token, max_bytes=settings.limits.max_bytes, review=desk)
        # The access log names the request line only: never the Authorization header.
        runner = web.AppRunner(app, access_log_format='%a "%r" %s %b %Tfs')
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
            where = f"http://{'[' + host + ']' if ':' in host else host}:{port}/"
            writes = "writes enabled" if token else f"read-only: set {TOKEN_VARIABLE} to enable writes"
            print(f"kaobot web: serving scope {scope!r} at {where} ({writes}); Ctrl+C stops", flush=True)
            notice = await recognizer.stale_notice(scope)
            if notice:
                log.warning("%s", notice)
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            try:
                await stop.wait()
            finally:
                for sig in (signal.SIGINT, signal.SIGTERM):
                    loop.remove_signal_handler(sig)
        finally:
            await runner.cleanup()


def cmd_web(args: argparse.Namespace) -> int:
    token = os.environ.get(TOKEN_VARIABLE, "").strip() or None
    settings = load_settings(args.config, args.data_dir)
    logging.getLogger("aiohttp.access").setLevel(logging.INFO if args.verbose else logging.WARNING)
    if token is None:
        log.warning("%s is not set: the page and the API are read-only (enrol, rename, forget refused)", TOKEN_VARIABLE)
    asyncio.run(serve(settings, args.host, args.port, args.scope, token))
    return 0


def _port(value: str) -> int:
    port = int(value)
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError("a port is from 0 to 65535")
    return port


def register(sub, add_common) -> None:
    p = sub.add_parser("web", help=f"serve the web page and its JSON API (writes need ${TOKEN_VARIABLE})")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=_port, default=8080, help="port (default 8080)")
    add_common(p)
    p.set_defaults(func=cmd_web)
