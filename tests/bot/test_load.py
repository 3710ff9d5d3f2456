"""Load through the bot: 200 concurrent `/whois` interactions through the cog callback with the
bounded work queue. The longer run is `python -m tools.load_test` (smoke-tested here)."""

from __future__ import annotations

import asyncio
import re
import time
import tracemalloc

import numpy as np
import pytest

from tools import load_test
from tools.make_examples import ALICE, BELLA

from .support import GUILD_A, attachment, fake_interaction, invoke

pytestmark = pytest.mark.slow  # load

# The busy answer says when to try again (bot.limits.WorkQueue measures how long pictures take).
BUSY_WITH_WAIT = r"I'm busy with other pictures right now; please try again in \d+ (s|min)\."

PADDING = 256 * 1024  # per body: 200 bodies held at once would be 50 MiB
PEAK_LIMIT = 24 * 1024 * 1024  # measured: about 11 MiB with the queue bounded at 32, 59 MiB unbounded


async def test_200_concurrent_whois_each_get_one_answer_in_bounded_memory(bots, cdn):
    capacity = bots.settings.inference.max_pending  # 32, as the runner sizes the work queue
    bot = await bots.start(queue_capacity=capacity, cooldown_uses=1000)
    await bot.services.recognizer.enroll("Alice", load_test.picture(ALICE, side=200), str(GUILD_A))
    urls = [cdn.put(n, load_test.picture(s, padding=PADDING)) for n, s in (("a.png", ALICE), ("b.png", BELLA))]
    whois = bot.get_cog("Whois").whois
    fakes = [fake_interaction(user_id=10_000 + i) for i in range(200)]
    latencies = [0.0] * 200

    async def one(i: int) -> None:
        started = time.perf_counter()
        await invoke(bot, whois, fakes[i], attachment(urls[i % 2], size=PADDING + 10_000))
        latencies[i] = time.perf_counter() - started

    tracemalloc.start()
    try:
        await asyncio.gather(*(one(i) for i in range(200)))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    answered = [f for f in fakes if len(f.sent) == 1 and f.last.kwargs.get("embeds")]
    busy = [f for f in fakes if len(f.sent) == 1 and re.fullmatch(BUSY_WITH_WAIT, f.last.text)]
    assert len(answered) + len(busy) == 200  # every interaction: exactly one answer, a result or busy
    assert len(answered) >= capacity and busy
    assert all(f.last.ephemeral and f.deferred is None for f in busy)  # refused before any download
    alice = [f for i, f in enumerate(fakes) if i % 2 == 0 and f in answered]
    assert alice and all(f.last.kwargs["embeds"][0].description.startswith("**1** · **Alice**") for f in alice)
    assert bot.services.queue.active == 0
    assert peak < PEAK_LIMIT, f"peak {peak / 2**20:.1f} MiB"
    p50, p95 = np.percentile(latencies, [50, 95]) * 1000
    a50, a95 = np.percentile([latencies[i] for i, f in enumerate(fakes) if f in answered], [50, 95]) * 1000
    print(
        f"\n200 concurrent /whois: {len(answered)} answered, {len(busy)} busy; latency p50/p95 all "
        f"{p50:.0f}/{p95:.0f} ms, answered {a50:.0f}/{a95:.0f} ms; peak traced memory {peak / 2**20:.1f} MiB"
    )


def test_load_script_reports_every_request(capsys):
    assert load_test.main(["--requests", "24", "--concurrency", "12", "--duration", "60", "--no-trace"]) == 0
    out = capsys.readouterr().out
    assert "24 /whois in" in out and "0 failed" in out and "latency p50/p95: answered" in out
