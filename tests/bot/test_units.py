"""Small parts of the bot: settings, cooldowns, the work queue, picture fitting, picture sources."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from bot.errors import BadAttachment, Busy, OnCooldown, ServerOnCooldown
from bot.limits import Cooldowns, RateLimits, WorkQueue
from bot.replies import fit_picture
from bot.sources import NO_PICTURE, message_sources
from recognition.config import BotSettings, load_settings
from recognition.errors import ConfigError

from .support import attachment, fake_message


def test_bot_settings_from_yaml(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("bot:\n  admin_role: 123456789012345678\n  watch_threshold: 0.8\n  message_content: false\n")
    s = load_settings(path, str(tmp_path))
    assert s.bot.admin_role == 123456789012345678 and s.bot.watch_threshold == 0.8
    assert s.bot.message_content is False and s.bot.max_images == BotSettings().max_images
    assert s.bot_state_path == tmp_path / "bot.sqlite3"
    path.write_text("bot:\n  token: abc\n")
    with pytest.raises(ConfigError, match="bot.token"):  # secrets have no place in the file
        load_settings(path)


def test_cooldown_sliding_window():
    now = [0.0]
    cooldowns = Cooldowns(2, 10.0, clock=lambda: now[0])
    cooldowns.hit("u")
    now[0] = 4.0
    cooldowns.hit("u")
    now[0] = 5.0
    with pytest.raises(OnCooldown) as refused:
        cooldowns.hit("u")
    assert refused.value.retry_after == pytest.approx(5.0)
    cooldowns.hit("someone else")
    now[0] = 10.0  # the first use left the window
    cooldowns.hit("u")


def test_member_and_server_limits_count_together():
    now = [0.0]
    limits = RateLimits(Cooldowns(2, 10.0, clock=lambda: now[0]), Cooldowns(3, 60.0, clock=lambda: now[0]))
    limits.hit("ann", "server")
    limits.hit("ann", "server")
    with pytest.raises(OnCooldown) as member:  # the member's limit; the server's use is not counted
        limits.hit("ann", "server")
    assert not isinstance(member.value, ServerOnCooldown) and member.value.retry_after == pytest.approx(10.0)
    now[0] = 30.0
    limits.hit("bob", "server")  # the server's third use
    with pytest.raises(ServerOnCooldown) as server:
        limits.hit("cyd", "server")
    assert server.value.retry_after == pytest.approx(30.0)
    assert str(server.value) == "Everyone here has asked me a lot just now: this server can try again in 30 s."
    limits.hit("cyd", "another server")  # cyd's refused use was not counted against cyd
    limits.hit("cyd", "another server")
    with pytest.raises(ServerOnCooldown):
        limits.hit_server("server")  # a watched channel's picture counts toward the server alone
    now[0] = 60.0  # the server's first use left its window
    limits.hit_server("server")
    limits.hit("dee", None)  # no server (a direct message): the member's limit alone


def test_rate_limits_from_settings():
    bot = BotSettings(cooldown_uses=1, cooldown_seconds=5.0, server_uses=4, server_seconds=20.0)
    limits = RateLimits.from_settings(bot)
    assert (limits.member.uses, limits.member.per, limits.server.uses, limits.server.per) == (1, 5.0, 4, 20.0)
    assert RateLimits.from_settings(BotSettings(server_uses=0)).server is None
    assert (BotSettings().server_uses, BotSettings().server_seconds) == (30, 60.0)


async def test_work_queue_admits_up_to_capacity():
    queue = WorkQueue(2)
    release = asyncio.Event()
    entered = []

    async def job(i):
        async with queue.slot():
            entered.append(i)
            await release.wait()

    tasks = [asyncio.create_task(job(i)) for i in range(2)]
    await asyncio.sleep(0)
    with pytest.raises(Busy):
        async with queue.slot():
            pass
    release.set()
    await asyncio.gather(*tasks)
    assert entered == [0, 1] and queue.active == 0
    async with queue.slot():
        assert queue.active == 1


def test_fit_picture_never_exceeds_the_limit():
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (600, 800, 3), dtype=np.uint8)  # incompressible
    for limit in (2_000_000, 200_000, 20_000):
        picture = fit_picture(noise, limit)
        assert picture is not None and len(picture.data) <= limit
    assert fit_picture(noise, 2_000_000).filename.endswith(".png")
    assert fit_picture(noise, 20_000).width < 800
    assert fit_picture(noise, 50) is None  # nothing that small is a picture


def test_message_sources_order_limit_and_refusals(cdn):
    pics = [attachment(cdn.put(f"{i}.png", b"x"), f"{i}.png") for i in range(5)]
    assert [s.label for s in message_sources(fake_message(pics), 1000, 3)] == ["0.png", "1.png", "2.png"]
    typed_by_name = attachment(cdn.put("a.webp", b"x"), "a.webp", content_type=None)
    assert len(message_sources(fake_message([typed_by_name]), 1000, 3)) == 1
    huge = attachment(cdn.put("big.png", b"x"), "big.png", size=5000)
    with pytest.raises(BadAttachment, match="big.png is too large"):
        message_sources(fake_message([huge]), 1000, 3)
    with pytest.raises(BadAttachment, match=NO_PICTURE):
        message_sources(fake_message(), 1000, 3)


def test_every_busy_reads_the_same_to_users():
    from bot.errors import BUSY, user_message
    from recognition import Busy as WorkerBusy

    assert user_message(WorkerBusy("kaobot is busy; try again shortly")) == BUSY
    assert user_message(Busy()) == BUSY
