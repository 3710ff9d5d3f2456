"""`kaobot bot`: token handling, clean shutdown on SIGTERM, the token never logged, owner-only sync.

Discord's HTTP API and gateway are replaced; everything kaobot builds is real."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import logging
import os
import signal
import threading
from types import SimpleNamespace
from unittest.mock import AsyncMock

import discord
import pytest
from discord.ext import commands
from discord.ext.commands.view import StringView

from bot.logs import REDACTED, setup_logging
from bot.runner import BAD_TOKEN, run_bot
from recognition import build_recognizer
from recognition.config import EmbedderSettings
from recognition.errors import GalleryUnavailable
from tools.cli import main

from .support import GUILD_A, fake_message, member

TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GabcDE.fake-token-for-tests_0123456789abcdef"
OWNER = 424242


class FakeDiscord:
    """Discord's REST API (`/users/@me`, `/oauth2/applications/@me`) and gateway, for one token."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, valid_token: str = TOKEN) -> None:
        self.valid_token = valid_token
        self.connected = asyncio.Event()
        self.client: discord.Client | None = None
        self.synced: list[dict] | None = None
        fake = self

        async def request(http, route, **kwargs):
            if http.token != fake.valid_token:
                raise discord.HTTPException(
                    SimpleNamespace(status=401, reason="Unauthorized"), {"message": "401: Unauthorized", "code": 0}
                )
            user = {"id": "1001", "username": "kaobot", "discriminator": "0", "avatar": None, "bot": True}
            if route.path == "/users/@me":
                return user
            if route.path == "/oauth2/applications/@me":
                return {
                    "id": "1001",
                    "name": "kaobot",
                    "description": "",
                    "icon": None,
                    "bot_public": True,
                    "bot_require_code_grant": False,
                    "owner": user,
                    "verify_key": "00",
                    "flags": 0,
                }
            if route.method == "PUT" and route.path == "/applications/{application_id}/guilds/{guild_id}/commands":
                fake.synced = kwargs["json"]  # what Discord would register: echo it with ids
                return [
                    {"description": "", **c, "id": str(i + 1), "application_id": "1001", "version": "1"}
                    for i, c in enumerate(fake.synced)
                ]
            raise AssertionError(f"unexpected Discord request {route.method} {route.path}")

        async def connect(client, *, reconnect=True):
            fake.client = client
            fake.connected.set()
            await asyncio.Event().wait()  # the gateway: events would arrive here

        monkeypatch.setattr(discord.http.HTTPClient, "request", request)
        monkeypatch.setattr(discord.Client, "connect", connect)


def test_missing_token(monkeypatch, capsys, tmp_path):
    monkeypatch.delenv("DISCORD_TOKEN", raising=False)
    assert main(["bot", "--data-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "kaobot: error: set DISCORD_TOKEN to the bot token from the Discord developer portal" in err


def test_rejected_token_is_a_clear_error_and_never_printed(monkeypatch, capsys, tmp_path, restore_logging):
    FakeDiscord(monkeypatch, valid_token="another-token-entirely")
    monkeypatch.setenv("DISCORD_TOKEN", TOKEN)
    assert main(["-v", "bot", "--data-dir", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert f"kaobot: error: {BAD_TOKEN}" in captured.err
    assert "logging in using static token" in captured.err  # the logs did go there
    assert TOKEN not in captured.out + captured.err


def test_token_is_redacted_from_every_log_line(restore_logging):
    stream = io.StringIO()
    setup_logging([TOKEN], logging.DEBUG, stream)
    log = logging.getLogger("kaobot.test")
    log.info("plain %s and in the message " + TOKEN, TOKEN)
    log.debug("as a mapping: %(token)s", {"token": TOKEN})
    try:
        raise RuntimeError(f"Authorization: Bot {TOKEN}")
    except RuntimeError:
        log.exception("request failed")
    logging.getLogger("discord.http").debug("a request with %s", TOKEN)
    out = stream.getvalue()
    assert TOKEN not in out
    assert out.count(REDACTED) == 4
    assert "a request with" not in out  # discord.http's DEBUG request dumps stay off, even with -v
    assert "RuntimeError: Authorization: Bot [redacted]" in out


async def test_sigterm_shuts_down_cleanly(monkeypatch, settings, caplog, alice_png):
    fake = FakeDiscord(monkeypatch)
    with caplog.at_level(logging.INFO):
        task = asyncio.create_task(run_bot(settings, TOKEN))
        await asyncio.wait_for(fake.connected.wait(), 20)
        bot = fake.client
        assert set(bot.cogs) == {"Whois", "Enroll", "Admin", "Watch", "Review", "Owner"}  # setup_hook ran after login
        result = await bot.services.recognizer.identify(alice_png, str(GUILD_A))  # starts the inference worker
        assert len(result.faces) == 1
        assert [t for t in threading.enumerate() if t.name.startswith("kaobot-infer")]
        os.kill(os.getpid(), signal.SIGTERM)
        assert await asyncio.wait_for(task, 20) is None
    assert bot.is_closed()
    with pytest.raises(GalleryUnavailable, match="closed"):
        await bot.services.recognizer.gallery.count()
    assert not [t.name for t in threading.enumerate() if t.name.startswith("kaobot-infer")]  # worker stopped
    messages = [r.getMessage() for r in caplog.records]
    assert "signal received: shutting down" in messages and messages[-1] == "kaobot stopped"
    assert all(TOKEN not in m for m in messages)
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # our handler is removed again


async def test_sync_flag_registers_every_command_once_after_login(monkeypatch, settings, caplog):
    fake = FakeDiscord(monkeypatch)
    with caplog.at_level(logging.INFO, logger="bot.client"):
        task = asyncio.create_task(run_bot(settings, TOKEN, sync=str(GUILD_A)))
        await asyncio.wait_for(fake.connected.wait(), 20)
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.wait_for(task, 20)
    by_name = {c["name"]: c for c in fake.synced}
    assert set(by_name) == {"whois", "enroll", "forget", "rename", "characters", "watch", "review", "Who is this?"}
    assert by_name["Who is this?"]["type"] == discord.AppCommandType.message.value
    manage_guild = discord.Permissions(manage_guild=True).value  # a hint; the cogs check rights themselves
    hinted = {name for name, c in by_name.items() if c.get("default_member_permissions") == manage_guild}
    assert hinted == {"enroll", "forget", "rename", "watch", "review"}
    assert all(c["contexts"] == [0] for c in fake.synced)  # 0: guild; no DMs, no private channels
    watch_state = next(o for o in by_name["watch"]["options"] if o["name"] == "state")
    assert [c["value"] for c in watch_state["choices"]] == ["on", "off"]
    assert f"synced 8 command(s) to {GUILD_A}" in [r.getMessage() for r in caplog.records]


async def test_start_warns_when_the_gallery_needs_reembedding(monkeypatch, settings, caplog, alice_png):
    """A gallery enrolled with another embedder (an upgrade changed the default) is reported at startup."""
    old = dataclasses.replace(settings, embedder=EmbedderSettings(backend="baseline"))
    async with build_recognizer(old) as before_upgrade:
        await before_upgrade.enroll("Alice", alice_png, str(GUILD_A))
    fake = FakeDiscord(monkeypatch)
    with caplog.at_level(logging.WARNING, logger="bot.runner"):
        task = asyncio.create_task(run_bot(settings, TOKEN))
        await asyncio.wait_for(fake.connected.wait(), 20)
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.wait_for(task, 20)
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "1 face(s) of model 'baseline-colour-layout-v1'" in warning and "kaobot gallery reembed" in warning


async def test_start_without_sync_registers_nothing(monkeypatch, settings):
    fake = FakeDiscord(monkeypatch)
    task = asyncio.create_task(run_bot(settings, TOKEN))
    await asyncio.wait_for(fake.connected.wait(), 20)
    os.kill(os.getpid(), signal.SIGTERM)
    await asyncio.wait_for(task, 20)
    assert fake.synced is None


async def test_sync_is_owner_only(kaobot, monkeypatch):
    kaobot.owner_ids = {OWNER}
    tree_sync = AsyncMock(return_value=[object()] * 7)  # Discord's answer: the synced commands
    monkeypatch.setattr(kaobot.tree, "sync", tree_sync)
    owner_cog = kaobot.get_cog("Owner")

    def context(author: int) -> commands.Context:
        """A real Context for `@kaobot sync …` posted in guild A."""
        message = fake_message()
        message.author = member(author)
        ctx = commands.Context(message=message, bot=kaobot, view=StringView(""), prefix="@kaobot ")
        ctx.reply = AsyncMock()  # the message would go through Discord's HTTP API
        return ctx

    with pytest.raises(commands.NotOwner):
        await owner_cog.sync.can_run(context(12345))

    ctx = context(OWNER)
    assert await owner_cog.sync.can_run(ctx)
    await owner_cog.sync.callback(owner_cog, ctx, "here")
    (call,) = tree_sync.await_args_list
    assert call.kwargs["guild"].id == GUILD_A
    ctx.reply.assert_awaited_once_with(f"Synced 7 command(s) to {GUILD_A}.")

    ctx = context(OWNER)
    await owner_cog.sync.callback(owner_cog, ctx)
    assert tree_sync.await_args.kwargs == {}
    ctx.reply.assert_awaited_once_with("Synced 7 command(s) to every server.")
