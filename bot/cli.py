"""`kaobot bot`: run the Discord bot (a command group of `tools.cli`)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os

from recognition import KaobotError, load_settings

TOKEN_VARIABLE = "DISCORD_TOKEN"
NO_TOKEN = (
    f"set {TOKEN_VARIABLE} to the bot token from the Discord developer portal "
    "(Application → Bot → Reset Token); kaobot never reads it from a file"
)


def cmd_bot(args: argparse.Namespace) -> int:
    from .logs import secrets_to_redact, setup_logging
    from .runner import run_bot

    token = os.environ.get(TOKEN_VARIABLE, "").strip()
    if not token:
        raise KaobotError(NO_TOKEN)
    settings = load_settings(args.config, args.data_dir)
    secrets = secrets_to_redact(token, settings.gallery.elasticsearch.username)
    setup_logging(secrets, logging.DEBUG if args.verbose else logging.INFO)
    asyncio.run(run_bot(settings, token, sync=args.sync))
    return 0


def _sync_target(value: str) -> str:
    if value != "global" and not value.isdigit():
        raise argparse.ArgumentTypeError("use 'global' or a guild id")
    return value


def register(sub, add_common) -> None:
    p = sub.add_parser("bot", help="run the Discord bot (token from $DISCORD_TOKEN)")
    p.add_argument(
        "--sync",
        type=_sync_target,
        metavar="global|GUILD_ID",
        help="sync the slash commands once after login (needed after adding or changing commands)",
    )
    add_common(p, scope=False)
    p.set_defaults(func=cmd_bot)
