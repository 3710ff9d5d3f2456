"""Spoilers, private answers, "try again in N s", the enrolled face shown, one name per character,
with real discord.py types (tests/bot/support.py) and the real recognizer."""

from __future__ import annotations

import asyncio
import io
import re

import pytest
from PIL import Image

from bot.errors import Busy, OnCooldown, busy_message, user_message
from bot.limits import WorkQueue
from bot.replies import ENROLLED_CROP, SPOILER_NOTE
from recognition import Busy as WorkerBusy
from tests.conftest import ALICE, png
from tests.test_enrol_and_names import JacketDetector

from .support import GUILD_A, admin_interaction, attachment, fake_interaction, fake_message, invoke


@pytest.fixture
async def alice_known(kaobot, alice_png_2):
    await kaobot.services.recognizer.enroll("Alice", alice_png_2, str(GUILD_A))
    return kaobot


def whois(bot):
    return bot.get_cog("Whois").whois


async def test_spoiler_attachment_gets_a_spoilered_answer(alice_known, cdn, pair_png):
    fake = fake_interaction()
    spoiler = attachment(cdn.put("SPOILER_pair.png", pair_png), "SPOILER_pair.png")
    assert spoiler.is_spoiler()
    await invoke(alice_known, whois(alice_known), fake, spoiler, top_k=2)
    sent = fake.last
    (embed,) = sent.kwargs["embeds"]
    first, _, second, _ = embed.description.splitlines()
    assert re.fullmatch(r"\*\*1\*\* · \|\|\*\*Alice\*\* \(0\.\d\d\)\|\|", first)
    assert second == "**2** · unknown"
    assert all(line.strip().startswith("candidates: ||") for line in embed.description.splitlines()[1::2])
    (file,) = sent.files
    assert file.filename.startswith("SPOILER_") and file.spoiler
    assert embed.image.url is None  # an embed's image is never blurred: the picture is a plain attachment
    assert sent.kwargs["content"] == SPOILER_NOTE


async def test_ordinary_attachment_is_not_spoilered(alice_known, cdn, pair_png):
    fake = fake_interaction()
    await invoke(alice_known, whois(alice_known), fake, attachment(cdn.put("pair.png", pair_png)))
    (embed,) = fake.last.kwargs["embeds"]
    assert "||" not in embed.description and "content" not in fake.last.kwargs
    (file,) = fake.last.files
    assert not file.filename.startswith("SPOILER_") and embed.image.url == f"attachment://{file.filename}"


async def test_context_menu_hides_the_answer_when_a_picture_is_a_spoiler(alice_known, cdn, alice_png):
    message = fake_message([attachment(cdn.put("SPOILER_a.png", alice_png), "SPOILER_a.png")])
    fake = fake_interaction()
    await invoke(alice_known, alice_known.get_cog("Whois").menu, fake, message)
    (embed,) = fake.last.kwargs["embeds"]
    assert embed.description.startswith("**1** · ||**Alice**")
    assert fake.last.files[0].filename.startswith("SPOILER_")


async def test_private_whois_answers_only_the_asker(alice_known, cdn, alice_png):
    fake = fake_interaction()
    await invoke(alice_known, whois(alice_known), fake, attachment(cdn.put("a.png", alice_png)), private=True)
    assert fake.deferred == {"thinking": True, "ephemeral": True}
    (sent,) = fake.sent
    assert sent.via == "followup" and sent.ephemeral and "**Alice**" in sent.text


async def test_rate_limited_member_is_told_when_to_try_again(bots, cdn, alice_png):
    bot = await bots.start(cooldown_uses=1)
    url = cdn.put("a.png", alice_png)
    first, second = fake_interaction(), fake_interaction()
    await invoke(bot, whois(bot), first, attachment(url))
    await invoke(bot, whois(bot), second, attachment(url))
    wait = re.fullmatch(r"Slow down a little: try again in (\d+) s\.", second.last.text)
    assert wait and 1 <= int(wait[1]) <= 60 and second.last.ephemeral  # the window is 60 s in these bots


async def test_full_queue_says_when_to_try_again(bots, cdn, alice_png):
    bot = await bots.start(queue_capacity=1)
    url = cdn.put("a.png", alice_png)
    await invoke(bot, whois(bot), fake_interaction(), attachment(url))  # one job measured
    measured = bot.services.queue.job_seconds
    assert measured is not None and measured > 0
    fakes = [fake_interaction(user_id=2000 + i) for i in range(4)]
    await asyncio.gather(*(invoke(bot, whois(bot), f, attachment(url)) for f in fakes))
    busy = [f.last.text for f in fakes if "busy" in f.last.text]
    assert busy
    for text in busy:
        wait = re.fullmatch(r"I'm busy with other pictures right now; please try again in (\d+) s\.", text)
        assert wait and int(wait[1]) >= 1


async def test_work_queue_estimates_from_how_long_jobs_held_their_slot():
    now = [0.0]
    queue = WorkQueue(1, clock=lambda: now[0])
    with pytest.raises(Busy) as first_guess:
        async with queue.slot():
            async with queue.slot():
                pass
    assert first_guess.value.retry_after == WorkQueue.FIRST_GUESS
    async with queue.slot():
        now[0] += 3.2
    with pytest.raises(Busy) as refused:
        async with queue.slot():
            now[0] += 10.0
            async with queue.slot():
                pass
    # the jobs so far held their slot 0 s and 3.2 s: their moving average
    assert refused.value.retry_after == pytest.approx(0.8 * 0.0 + 0.2 * 3.2)


def test_messages_say_when():
    assert busy_message(4.2) == "I'm busy with other pictures right now; please try again in 5 s."
    assert busy_message(0.01).endswith("try again in 1 s.")
    assert busy_message(150).endswith("try again in 3 min.")
    assert user_message(WorkerBusy("kaobot is busy", retry_after=12.5)).endswith("try again in 13 s.")
    assert str(OnCooldown(0.2)) == "Slow down a little: try again in 1 s."


async def test_enrolment_reply_shows_the_stored_face(kaobot, cdn, alice_png):
    fake = admin_interaction()
    await invoke(kaobot, kaobot.get_cog("Enroll").enroll, fake, "Alice", attachment(cdn.put("a.png", alice_png)))
    (embed,) = fake.last.kwargs["embeds"]
    (file,) = fake.last.files
    assert file.filename == ENROLLED_CROP and embed.thumbnail.url == f"attachment://{ENROLLED_CROP}"
    file.fp.seek(0)
    with Image.open(io.BytesIO(file.fp.read())) as crop:
        assert crop.format == "JPEG" and crop.size == (192, 192)


async def test_lone_doubtful_face_is_refused_with_what_to_do(kaobot, cdn):
    real = kaobot.services.recognizer.detector
    fake_detector = JacketDetector(real, keep_real=False)
    kaobot.services.recognizer.detector = fake_detector
    kaobot.services.recognizer.worker.detector = fake_detector  # the bot's pictures go through its worker
    picture = png([(200, 170, 150, ALICE)], size=(420, 520))
    fake = admin_interaction()
    await invoke(kaobot, kaobot.get_cog("Enroll").enroll, fake, "Alice", attachment(cdn.put("j.png", picture)))
    assert fake.last.ephemeral
    assert fake.last.text == (
        "The only face I found is doubtful (detection score 0.51, below 0.55), so nothing was enrolled. "
        "To enrol it anyway, run `/enroll` again with the `face` option; or use a clearer picture."
    )
    assert await kaobot.services.recognizer.gallery.count() == 0


async def test_one_name_per_character_in_a_reply(alice_known, cdn):
    two_alices = png([(180, 200, 170, ALICE), (520, 200, 170, ALICE)], size=(700, 400))
    fake = fake_interaction()
    await invoke(alice_known, whois(alice_known), fake, attachment(cdn.put("two.png", two_alices)))
    (embed,) = fake.last.kwargs["embeds"]
    assert embed.description.count("**Alice**") == 1
    assert embed.description.count("unknown") == 1


async def test_watched_channel_spoiler_gets_a_hidden_reply(alice_known, cdn, alice_png):
    from .support import text_channel

    await invoke(alice_known, alice_known.get_cog("Watch").watch, admin_interaction(), text_channel(), "on")
    message = fake_message([attachment(cdn.put("SPOILER_a.png", alice_png), "SPOILER_a.png")])
    await alice_known.get_cog("Watch").on_message(message)
    message.reply.assert_awaited_once()
    kwargs = message.reply.await_args.kwargs
    assert kwargs["content"] == SPOILER_NOTE
    assert kwargs["embeds"][0].description.startswith("**1** · ||**Alice**")
    assert [f.filename[:8] for f in kwargs["files"]] == ["SPOILER_"]
