"""Outages: the Elasticsearch gallery stopped and started under a running bot, and a missing or
corrupt model file at `kaobot bot` start."""

from __future__ import annotations

import base64
import logging

import discord
import pytest
import yaml

from recognition.gallery.elastic import PASSWORD_ENV
from tests.gallery_backends import es_settings
from tools.cli import main

from .support import (
    CHANNEL,
    GUILD_A,
    admin_interaction,
    attachment,
    fake_interaction,
    fake_message,
    invoke,
    text_channel,
)
from .test_runner import TOKEN

GALLERY_DOWN = "The character gallery is not available right now; please try again in a minute."
PASSWORD = "es-pa55word-never-in-logs"


@pytest.fixture
async def es_bot(bots, es_private_server, monkeypatch):
    """A bot on the Elasticsearch gallery of a server of its own (basic auth from the environment)."""
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    bots.settings.gallery.backend = "elasticsearch"
    bots.settings.gallery.elasticsearch = es_settings(
        es_private_server.url, username="kaobot", retries=1, retry_backoff=0.05, request_timeout=2
    )
    return await bots.start()


@pytest.mark.elasticsearch
async def test_gallery_outage_during_a_bot_session(
    es_bot, es_private_server, cdn, alice_png, alice_png_2, bella_png, caplog
):
    bot = es_bot
    whois, enroll, admin = bot.get_cog("Whois").whois, bot.get_cog("Enroll").enroll, bot.get_cog("Admin")
    await invoke(bot, enroll, admin_interaction(), "Alice", attachment(cdn.put("a2.png", alice_png_2)))
    await invoke(bot, bot.get_cog("Watch").watch, admin_interaction(), text_channel(), "on")
    alice_url = cdn.put("a.png", alice_png)
    before = fake_interaction()
    await invoke(bot, whois, before, attachment(alice_url))
    assert "**Alice**" in before.last.text

    es_private_server.stop()
    calls = {
        "whois": (whois, fake_interaction(), (attachment(alice_url),)),
        "enroll": (enroll, admin_interaction(), ("Bella", attachment(cdn.put("b.png", bella_png)))),
        "characters": (admin.characters, fake_interaction(), ()),
        "forget": (admin.forget, admin_interaction(), ("Alice",)),
        "rename": (admin.rename, admin_interaction(), ("Alice", "Alicia")),
    }
    with caplog.at_level(logging.DEBUG):
        for command, fake, args in calls.values():
            await invoke(bot, command, fake, *args)
        posted = fake_message([attachment(alice_url)], channel_id=CHANNEL)
        await bot.get_cog("Watch").on_message(posted)
    for name, (_, fake, _) in calls.items():
        (sent,) = fake.sent  # exactly one answer, private, saying what is wrong
        assert sent.ephemeral and sent.text == GALLERY_DOWN, name
    posted.reply.assert_not_awaited()  # a watched channel stays quiet meanwhile
    assert bot.services.queue.active == 0
    failures = [r for r in caplog.records if r.name == "bot.errors"]
    assert len(failures) == len(calls) and all("is unavailable" in r.getMessage() for r in failures)
    assert not [r for r in caplog.records if r.exc_info and r.name == "bot.errors"]  # expected: no traceback
    basic = base64.b64encode(f"kaobot:{PASSWORD}".encode()).decode()
    assert PASSWORD not in caplog.text and basic not in caplog.text

    es_private_server.start()  # the same bot object, no restart
    after = fake_interaction()
    await invoke(bot, whois, after, attachment(alice_url))
    assert "**Alice**" in after.last.text
    enrolled = admin_interaction()
    await invoke(bot, enroll, enrolled, "Bella", attachment(cdn.put("b2.png", bella_png)))
    assert "is now **Bella**" in enrolled.last.text
    listing = fake_interaction()
    await invoke(bot, admin.characters, listing)
    assert "**Alice** · 1 face" in listing.last.text and "**Bella** · 1 face" in listing.last.text
    assert {c.name for c in await bot.services.recognizer.characters(str(GUILD_A))} == {"Alice", "Bella"}


def _write_model_file(path, kind: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "corrupt":
        path.write_bytes(b"PK\x03\x04" + bytes(range(256)) * 8)  # a broken zip, as a truncated download
    elif kind == "not-kaobot":
        import torch

        torch.save({"state_dict": {"w": torch.zeros(2)}}, path)  # a torch file, but not a kaobot checkpoint


@pytest.mark.parametrize(
    ("component", "kind", "says"),
    [
        ("embedder", "missing", "model file not found: {path}"),
        ("embedder", "corrupt", "model file {path} is corrupt or not a torch checkpoint"),
        ("embedder", "not-kaobot", "model file {path} is not a kaobot-embedder checkpoint"),
        ("detector", "corrupt", "model file {path} is corrupt or not a torch checkpoint"),
    ],
    ids=["embedder-missing", "embedder-corrupt", "embedder-not-kaobot", "detector-corrupt"],
)
def test_bad_model_file_stops_the_bot_before_discord(
    tmp_path, monkeypatch, capsys, restore_logging, component, kind, says
):
    path = tmp_path / "models" / f"{component}.pt"
    _write_model_file(path, kind)
    config = tmp_path / "kaobot.yaml"
    config.write_text(yaml.safe_dump({component: {"backend": "torch", "checkpoint": str(path), "device": "cpu"}}))
    touched: list[str] = []

    async def request(http, route, **kwargs):
        touched.append(f"{route.method} {route.path}")
        raise AssertionError("Discord was contacted")

    async def connect(client, *, reconnect=True):
        touched.append("gateway")

    monkeypatch.setattr(discord.http.HTTPClient, "request", request)
    monkeypatch.setattr(discord.Client, "connect", connect)
    monkeypatch.setenv("DISCORD_TOKEN", TOKEN)

    assert main(["bot", "--config", str(config), "--data-dir", str(tmp_path / "data")]) == 1
    err = capsys.readouterr().err
    (line,) = [x for x in err.splitlines() if x.startswith("kaobot: error:")]
    assert line.startswith("kaobot: error: " + says.format(path=path)), line
    assert touched == []  # failed before logging in to Discord
    assert TOKEN not in err
