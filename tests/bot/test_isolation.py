"""Tenants: no command in one server reads, lists, renames, forgets or watches another's; every
mutating command checks admin rights in code; DMs are refused (README: "Direct messages are refused")."""

from __future__ import annotations

from dataclasses import dataclass

import discord
import pytest

from .support import (
    ADMIN_ROLE,
    CHANNEL,
    GUILD_A,
    GUILD_B,
    FakeInteraction,
    admin_interaction,
    attachment,
    fake_interaction,
    fake_message,
    invoke,
    text_channel,
)
from .test_admin import store

OTHER_CHANNEL = CHANNEL + 1
NOT_ADMIN = "Only members with the Manage Server permission (or the kaobot admin role) can do that."
DM_REFUSED = "kaobot works in servers only: each server has its own characters."


@dataclass(frozen=True)
class State:
    """Everything a command could change, per server."""

    characters: dict[int, dict[str, int]]
    watched: dict[int, list[int]]


async def state(bot) -> State:
    rec, watchlist = bot.services.recognizer, bot.services.watchlist
    characters = {g: {c.name: c.faces for c in await rec.characters(str(g))} for g in (GUILD_A, GUILD_B)}
    return State(characters, {g: watchlist.channels(g) for g in (GUILD_A, GUILD_B)})


@pytest.fixture
async def tenants(kaobot, cdn, alice_png_2):
    """Server A knows Alice and watches a channel; server B knows Zoe."""
    await kaobot.services.recognizer.enroll("Alice", alice_png_2, str(GUILD_A))
    await kaobot.services.watchlist.set(GUILD_A, CHANNEL, True)
    await store(kaobot, GUILD_B, "Zoe")
    cdn.hits.clear()
    return kaobot


async def run(bot, cdn, command: str, fake: FakeInteraction, picture: bytes) -> None:
    """Run one command in `fake`'s server, aimed at server A's character, picture or channel."""
    whois, admin, watch = bot.get_cog("Whois"), bot.get_cog("Admin"), bot.get_cog("Watch")
    url = cdn.put("alice.png", picture)
    calls = {
        "whois": (whois.whois, attachment(url)),
        "who-is-this": (whois.menu, fake_message([attachment(url)], guild_id=fake.interaction.guild_id)),
        "characters": (admin.characters,),
        "rename": (admin.rename, "Alice", "Mallory"),
        "forget": (admin.forget, "Alice"),
        "watch-on": (watch.watch, text_channel(OTHER_CHANNEL, GUILD_A), "on"),
        "watch-off": (watch.watch, text_channel(CHANNEL, GUILD_A), "off"),
        "enroll": (bot.get_cog("Enroll").enroll, "Alice", attachment(url)),
    }
    callback, *args = calls[command]
    await invoke(bot, callback, fake, *args)


ISOLATION = {
    "whois": "**1** · unknown",
    "who-is-this": "**1** · unknown",
    "characters": "**Zoe** · 1 face",
    "rename": "No character named 'Alice' is enrolled here.",
    "forget": "No character named 'Alice' is enrolled here.",
    "watch-on": "That channel belongs to another server.",
    "watch-off": "That channel belongs to another server.",
    "enroll": "is now **Alice**",  # B may have its own Alice; A's is untouched
}


@pytest.mark.parametrize("command", list(ISOLATION))
async def test_server_b_cannot_reach_server_a(tenants, cdn, alice_png, command):
    before = await state(tenants)
    fake = admin_interaction(GUILD_B)  # B's admin: the most a B member can be
    await run(tenants, cdn, command, fake, alice_png)
    (sent,) = fake.sent
    assert ISOLATION[command] in sent.text
    after = await state(tenants)
    assert after.characters[GUILD_A] == before.characters[GUILD_A] == {"Alice": 1}
    assert after.watched[GUILD_A] == before.watched[GUILD_A] == [CHANNEL]
    if command == "enroll":
        assert after.characters[GUILD_B] == {"Zoe": 1, "Alice": 1}
    else:
        assert after == before
    if command in ("whois", "who-is-this", "characters"):  # the read commands show nothing of A
        assert "Alice" not in sent.text


MUTATING = ["enroll", "rename", "forget", "watch-on", "watch-off"]
NON_ADMINS = {
    "member": {},
    "moderator": {  # many rights, but neither Manage Server nor Administrator nor the kaobot role
        "permissions": discord.Permissions(
            manage_messages=True, manage_channels=True, manage_roles=True, kick_members=True, ban_members=True
        ),
        "roles": (ADMIN_ROLE + 1,),
    },
}


@pytest.mark.parametrize("who", list(NON_ADMINS))
@pytest.mark.parametrize("command", MUTATING)
async def test_mutating_commands_refuse_non_admins_in_code(tenants, cdn, alice_png, command, who):
    before = await state(tenants)
    fake = fake_interaction(GUILD_A, **NON_ADMINS[who])
    await run(tenants, cdn, command, fake, alice_png)  # in A, on A's own character and channels
    (sent,) = fake.sent
    assert sent.via == "response" and sent.ephemeral and sent.text == NOT_ADMIN
    assert fake.deferred is None and cdn.hits == []  # refused before any download or work
    assert await state(tenants) == before


@pytest.mark.parametrize("command", list(ISOLATION))
async def test_direct_messages_are_refused(tenants, cdn, alice_png, command):
    before = await state(tenants)
    fake = fake_interaction(None, permissions=discord.Permissions.all())
    await run(tenants, cdn, command, fake, alice_png)
    (sent,) = fake.sent
    assert sent.ephemeral and sent.text == DM_REFUSED
    assert cdn.hits == [] and await state(tenants) == before


async def test_pictures_posted_in_direct_messages_are_ignored(tenants, cdn, alice_png):
    message = fake_message([attachment(cdn.put("a.png", alice_png))], guild_id=None, channel_id=CHANNEL)
    await tenants.get_cog("Watch").on_message(message)  # even on a channel id that A watches
    message.reply.assert_not_awaited()
    assert cdn.hits == []
