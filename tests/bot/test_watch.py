"""`/watch` and the message path: watched channels survive a restart; replies only for known faces."""

from __future__ import annotations

import discord
import pytest

from .support import (
    CHANNEL,
    GUILD_A,
    GUILD_B,
    admin_interaction,
    attachment,
    fake_interaction,
    fake_message,
    invoke,
    text_channel,
)


def watch(bot):
    return bot.get_cog("Watch").watch


async def post(bot, message) -> None:
    """Deliver a message to the Watch cog's listener, as the gateway's dispatch does."""
    await bot.get_cog("Watch").on_message(message)


@pytest.fixture
async def alice_known(kaobot, alice_png_2):
    await kaobot.services.recognizer.enroll("Alice", alice_png_2, str(GUILD_A))
    return kaobot


async def test_watch_needs_admin_rights(kaobot):
    fake = fake_interaction()
    await invoke(kaobot, watch(kaobot), fake, text_channel(), "on")
    assert fake.last.ephemeral and fake.last.text.startswith("Only members with the Manage Server permission")
    assert not kaobot.services.watchlist.is_watched(CHANNEL)


async def test_channel_of_another_server_is_refused(kaobot):
    fake = admin_interaction(GUILD_A)
    await invoke(kaobot, watch(kaobot), fake, text_channel(CHANNEL, GUILD_B), "on")
    assert fake.last.text == "That channel belongs to another server."
    assert not kaobot.services.watchlist.is_watched(CHANNEL)


async def test_watched_channel_answers_known_faces_only(alice_known, cdn, alice_png, carla_png, blank_png):
    bot = alice_known
    unwatched = fake_message([attachment(cdn.put("a.png", alice_png))])
    await post(bot, unwatched)
    unwatched.reply.assert_not_awaited()
    assert cdn.hits == []  # nothing is downloaded outside watched channels

    fake = admin_interaction()
    await invoke(bot, watch(bot), fake, text_channel(), "on")
    assert fake.last.ephemeral and fake.last.text.startswith(f"Watching <#{CHANNEL}>: I'll reply to pictures")

    for quiet in (carla_png, blank_png, b"not a picture"):
        message = fake_message([attachment(cdn.put("q.png", quiet))])
        await post(bot, message)
        message.reply.assert_not_awaited()

    from_a_bot = fake_message([attachment(cdn.put("a.png", alice_png))], author_bot=True)
    await post(bot, from_a_bot)
    from_a_bot.reply.assert_not_awaited()

    message = fake_message([attachment(cdn.put("a.png", alice_png))])
    await post(bot, message)
    message.reply.assert_awaited_once()
    kwargs = message.reply.await_args.kwargs
    assert kwargs["mention_author"] is False
    (embed,) = kwargs["embeds"]
    assert embed.description.startswith("**1** · **Alice** (0.9")
    assert len(kwargs["files"]) == 1


async def test_watch_threshold_is_configurable(alice_known, cdn, alice_png):
    bot = alice_known
    await invoke(bot, watch(bot), admin_interaction(), text_channel(), "on")
    bot.services.settings.bot.watch_threshold = 0.9999  # above Alice's similarity: stay quiet
    message = fake_message([attachment(cdn.put("a.png", alice_png))])
    await post(bot, message)
    message.reply.assert_not_awaited()


async def test_watch_persists_across_a_restart(bots, cdn, alice_png, alice_png_2):
    first = await bots.start()
    await first.services.recognizer.enroll("Alice", alice_png_2, str(GUILD_A))
    await invoke(first, watch(first), admin_interaction(), text_channel(), "on")
    await bots.stop(first)

    second = await bots.start()  # a new process: state read back from <data_dir>/bot.sqlite3
    assert second.services.watchlist.channels(GUILD_A) == [CHANNEL]
    message = fake_message([attachment(cdn.put("a.png", alice_png))])
    await post(second, message)
    message.reply.assert_awaited_once()

    off = admin_interaction()
    await invoke(second, watch(second), off, text_channel(), "off")
    assert off.last.text == f"No longer watching <#{CHANNEL}>."
    await bots.stop(second)

    third = await bots.start()
    assert third.services.watchlist.channels(GUILD_A) == []
    message = fake_message([attachment(cdn.put("a.png", alice_png))])
    await post(third, message)
    message.reply.assert_not_awaited()


async def test_watching_without_the_message_content_intent_is_refused(bots):
    bots.settings.bot.message_content = False
    bot = await bots.start()
    assert bot.intents.message_content is False
    fake = admin_interaction()
    await invoke(bot, watch(bot), fake, text_channel(), "on")
    assert fake.last.text.startswith("Watching channels is switched off for this bot")


async def test_intents_ask_for_message_content_only_when_watching_is_on(kaobot):
    assert kaobot.intents.message_content is True
    assert kaobot.intents.members is False and kaobot.intents.presences is False
    assert kaobot.allowed_mentions.everyone is False and kaobot.allowed_mentions.roles is False


async def test_embedded_images_in_watched_channels_use_the_proxy(alice_known, cdn, alice_png):
    bot = alice_known
    await invoke(bot, watch(bot), admin_interaction(), text_channel(), "on")
    embed = discord.Embed.from_dict(
        {"type": "image", "thumbnail": {"url": "https://example.com/a.png", "proxy_url": cdn.put("p.png", alice_png)}}
    )
    message = fake_message([], [embed])
    await post(bot, message)
    message.reply.assert_awaited_once()
    assert [path for _, path in cdn.hits] == ["/attachments/p.png"]


async def test_watched_channels_count_toward_the_server_limit(bots, cdn, alice_png, alice_png_2):
    """Over the server's limit a watched channel stays quiet (no reply, no download)."""
    bot = await bots.start(server_uses=2)
    await bot.services.recognizer.enroll("Alice", alice_png_2, str(GUILD_A))
    await invoke(bot, watch(bot), admin_interaction(), text_channel(), "on")
    await invoke(
        bot, bot.get_cog("Whois").whois, fake_interaction(user_id=600), attachment(cdn.put("w.png", alice_png))
    )
    first, second = (fake_message([attachment(cdn.put(f"{i}.png", alice_png))]) for i in range(2))
    await post(bot, first)
    first.reply.assert_awaited_once()
    hits = len(cdn.hits)
    await post(bot, second)
    second.reply.assert_not_awaited()
    assert len(cdn.hits) == hits
