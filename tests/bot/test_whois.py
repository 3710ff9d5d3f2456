"""`/whois` and "Who is this?" through their callbacks, with the real recognizer and gallery."""

from __future__ import annotations

import asyncio
import logging
import re

import discord
import pytest

from tests.conftest import ALICE, BELLA, png

from .support import GUILD_A, GUILD_B, attachment, fake_interaction, fake_message, invoke, picture_size


@pytest.fixture
async def alice_known(kaobot, alice_png_2):
    await kaobot.services.recognizer.enroll("Alice", alice_png_2, str(GUILD_A))
    return kaobot


def whois(bot):
    return bot.get_cog("Whois").whois


def menu(bot):
    return bot.get_cog("Whois").menu


async def test_whois_names_known_faces_and_marks_unknown(alice_known, cdn, pair_png):
    fake = fake_interaction()
    await invoke(alice_known, whois(alice_known), fake, attachment(cdn.put("pair.png", pair_png), data=pair_png))
    assert fake.deferred == {"thinking": True, "ephemeral": False}  # deferred before the slow work, publicly
    (sent,) = fake.sent
    assert sent.via == "followup" and not sent.ephemeral
    (embed,) = sent.kwargs["embeds"]
    lines = embed.description.splitlines()
    known = re.fullmatch(r"\*\*1\*\* · \*\*Alice\*\* \((0\.\d\d)\)", lines[0])
    assert known and float(known[1]) >= alice_known.services.recognizer.threshold
    assert lines[1] == "**2** · unknown"
    (file,) = sent.files
    assert embed.image.url == f"attachment://{file.filename}"
    assert picture_size(file) == (700, 400)


async def test_whois_candidates_when_asked(alice_known, cdn, pair_png):
    fake = fake_interaction()
    await invoke(alice_known, whois(alice_known), fake, attachment(cdn.put("p.png", pair_png)), top_k=3)
    description = fake.last.kwargs["embeds"][0].description
    (alice,) = re.findall(r"candidates: Alice (0\.\d\d)", description.splitlines()[1])
    assert float(alice) >= alice_known.services.recognizer.threshold
    assert description.count("candidates:") == 2  # the unknown face lists its closest too


async def test_character_of_guild_a_is_unknown_in_guild_b(alice_known, cdn, alice_png):
    url = cdn.put("a.png", alice_png)
    in_a, in_b = fake_interaction(GUILD_A), fake_interaction(GUILD_B)
    await invoke(alice_known, whois(alice_known), in_a, attachment(url))
    await invoke(alice_known, whois(alice_known), in_b, attachment(url), top_k=5)
    assert "**Alice**" in in_a.last.text
    assert "Alice" not in in_b.last.text
    assert in_b.last.kwargs["embeds"][0].description == "**1** · unknown"


async def test_no_face(kaobot, cdn, blank_png):
    fake = fake_interaction()
    await invoke(kaobot, whois(kaobot), fake, attachment(cdn.put("blank.png", blank_png)))
    assert fake.last.kwargs["embeds"][0].description == "I found no face in this picture."
    assert fake.last.files == []


@pytest.mark.parametrize(
    ("filename", "content_type", "size", "expected"),
    [
        (
            "notes.txt",
            "text/plain",
            100,
            "notes.txt is not a picture: please attach a PNG, JPEG, WebP, GIF or BMP image.",
        ),
        ("huge.png", "image/png", 30 * 1024 * 1024, "huge.png is too large (30 MiB); the limit is 25 MiB."),
        ("clip.mp4", "video/mp4", 100, "clip.mp4 is not a picture"),
    ],
)
async def test_refused_attachments_are_answered_before_any_download(
    kaobot, cdn, filename, content_type, size, expected
):
    fake = fake_interaction()
    url = cdn.put(filename, b"x" * 100)
    await invoke(kaobot, whois(kaobot), fake, attachment(url, filename, size=size, content_type=content_type))
    (sent,) = fake.sent
    assert sent.via == "response" and sent.ephemeral
    assert sent.text.startswith(expected)
    assert fake.deferred is None and cdn.hits == []


async def test_corrupt_picture_gets_a_clear_private_reply(kaobot, cdn, alice_png):
    fake = fake_interaction()
    url = cdn.put("broken.png", alice_png[: len(alice_png) // 3])
    await invoke(kaobot, whois(kaobot), fake, attachment(url, "broken.png"))
    (sent,) = fake.sent
    assert sent.via == "followup" and sent.ephemeral
    assert sent.text == "I couldn't use that picture: the image is corrupt or truncated."
    fake.interaction.delete_original_response.assert_awaited_once()  # the public "thinking…" goes away


async def test_picture_that_lies_about_its_type(kaobot, cdn):
    fake = fake_interaction()
    await invoke(kaobot, whois(kaobot), fake, attachment(cdn.put("fake.png", b"%PDF-1.4 not a picture" * 10)))
    assert fake.last.ephemeral and fake.last.text.startswith("I couldn't use that picture: not a readable image")


async def test_download_failure_is_explained(kaobot, cdn):
    fake = fake_interaction()
    await invoke(kaobot, whois(kaobot), fake, attachment(cdn.url("/status/404")))
    assert fake.last.ephemeral and fake.last.text == "Discord answered HTTP 404 for the picture."


async def test_dms_are_refused(kaobot, cdn, alice_png):
    fake = fake_interaction(guild_id=None)
    await invoke(kaobot, whois(kaobot), fake, attachment(cdn.put("a.png", alice_png)))
    assert fake.last.ephemeral and "servers only" in fake.last.text and cdn.hits == []


async def test_reply_fits_the_upload_limit(alice_known, cdn):
    big = png([(400, 400, 300, ALICE), (1000, 420, 280, BELLA)], size=(1400, 900))
    fake = fake_interaction(filesize_limit=8_000)  # the PNG at full size takes about 14 kB
    await invoke(alice_known, whois(alice_known), fake, attachment(cdn.put("big.png", big)))
    (file,) = fake.last.files
    file.fp.seek(0, 2)
    assert file.fp.tell() <= 8_000
    assert picture_size(file)[0] < 1400  # downscaled, not just re-encoded


async def test_cooldown_per_user(bots, cdn, alice_png):
    bot = await bots.start(cooldown_uses=2)
    url = cdn.put("a.png", alice_png)
    first, second, third = (fake_interaction() for _ in range(3))
    for fake in (first, second, third):
        await invoke(bot, whois(bot), fake, attachment(url))
    assert (
        third.last.ephemeral
        and third.last.text.startswith("Slow down a little: try again in")
        and third.deferred is None
    )
    other_user = fake_interaction(user_id=777)
    await invoke(bot, whois(bot), other_user, attachment(url))
    assert other_user.last.kwargs.get("embeds")


async def test_server_rate_limit_across_members(bots, cdn, alice_png):
    bot = await bots.start(server_uses=2)
    url = cdn.put("a.png", alice_png)
    fakes = [fake_interaction(user_id=500 + i) for i in range(3)]  # three members of one server
    for fake in fakes:
        await invoke(bot, whois(bot), fake, attachment(url))
    assert all(f.last.kwargs.get("embeds") for f in fakes[:2])
    refused = fakes[2].last
    assert refused.ephemeral and fakes[2].deferred is None
    assert re.fullmatch(r"Everyone here has asked me a lot just now: this server can try again in \d+ s\.", refused.text)
    elsewhere = fake_interaction(guild_id=GUILD_B, user_id=502)  # another server, the same member
    await invoke(bot, whois(bot), elsewhere, attachment(url))
    assert elsewhere.last.kwargs.get("embeds")


async def test_busy_when_the_queue_is_full(bots, cdn, alice_png):
    bot = await bots.start(queue_capacity=2)
    url = cdn.put("a.png", alice_png)
    fakes = [fake_interaction(user_id=1000 + i) for i in range(8)]
    await asyncio.gather(*(invoke(bot, whois(bot), f, attachment(url)) for f in fakes))
    busy = [f for f in fakes if re.fullmatch(r"I'm busy with other pictures right now; please try again in \d+ s\.", f.last.text)]
    answered = [f for f in fakes if f.last.kwargs.get("embeds")]
    assert len(busy) + len(answered) == len(fakes)  # everyone got exactly one answer
    assert all(len(f.sent) == 1 for f in fakes)
    assert len(answered) >= 2 and len(busy) >= 1
    assert all(f.last.ephemeral and f.deferred is None for f in busy)
    assert bot.services.queue.active == 0


async def test_unexpected_error_is_logged_and_still_answered(kaobot, cdn, alice_png, monkeypatch, caplog):
    async def broken(*args, **kwargs):
        raise RuntimeError("model exploded")

    monkeypatch.setattr(kaobot.services.recognizer, "identify", broken)
    fake = fake_interaction()
    with caplog.at_level(logging.ERROR, logger="bot.errors"):
        await invoke(kaobot, whois(kaobot), fake, attachment(cdn.put("a.png", alice_png)))
    assert fake.last.ephemeral and fake.last.text.startswith("Something went wrong on my side")
    (record,) = [r for r in caplog.records if r.name == "bot.errors"]
    assert "unexpected error in whois" in record.getMessage()
    assert record.exc_info and "model exploded" in str(record.exc_info[1])
    assert kaobot.services.queue.active == 0


# -- the "Who is this?" context menu -----------------------------------------------------------


async def test_context_menu_reads_attachments_and_embedded_images(alice_known, cdn, alice_png, carla_png):
    embedded = discord.Embed.from_dict(
        {
            "type": "image",
            "url": "https://example.com/carla.png",
            "thumbnail": {"url": "https://example.com/carla.png", "proxy_url": cdn.put("proxied.png", carla_png)},
        }
    )
    message = fake_message(
        [
            attachment(cdn.put("a.png", alice_png)),
            attachment(cdn.put("n.txt", b"hi"), "n.txt", content_type="text/plain"),
        ],
        [embedded],
    )
    fake = fake_interaction()
    await invoke(alice_known, menu(alice_known), fake, message)
    assert fake.deferred == {"thinking": True}
    embeds = fake.last.kwargs["embeds"]
    assert [e.title for e in embeds] == ["Picture 1", "Picture 2"]
    assert embeds[0].description.startswith("**1** · **Alice**")
    assert embeds[1].description == "**1** · unknown"
    assert len(fake.last.files) == 2
    assert {path for _, path in cdn.hits} == {"/attachments/a.png", "/attachments/proxied.png"}


async def test_context_menu_never_fetches_the_linked_host(kaobot, cdn, alice_png):
    cdn.put("a.png", alice_png)
    hostile = discord.Embed.from_dict(
        {
            "type": "image",
            "image": {"url": "https://example.com/a.png", "proxy_url": cdn.url("/attachments/a.png", host="localhost")},
        }
    )
    fake = fake_interaction()
    await invoke(kaobot, menu(kaobot), fake, fake_message([], [hostile]))
    assert fake.last.ephemeral and fake.last.text == "I only download pictures stored by Discord itself."
    assert cdn.hits == []


async def test_context_menu_without_pictures(kaobot):
    fake = fake_interaction()
    await invoke(kaobot, menu(kaobot), fake, fake_message())
    assert fake.last.via == "response" and fake.last.ephemeral
    assert fake.last.text == "That message has no picture I can look at."


async def test_context_menu_reports_a_bad_picture_among_good_ones(kaobot, cdn, alice_png):
    message = fake_message([attachment(cdn.put("a.png", alice_png)), attachment(cdn.put("b.png", b"garbage"))])
    fake = fake_interaction()
    await invoke(kaobot, menu(kaobot), fake, message)
    embeds = fake.last.kwargs["embeds"]
    assert embeds[1].description.startswith("I couldn't use that picture")
    assert len(fake.last.files) == 1
