"""`/forget`, `/rename`, `/characters`: admin rights checked in code, one server never sees another's."""

from __future__ import annotations

import logging

import numpy as np

from recognition.gallery import FaceRecord

from .support import GUILD_A, GUILD_B, admin_interaction, click, fake_interaction, invoke


def command(bot, name):
    return getattr(bot.get_cog("Admin"), name)


async def names(bot, guild=GUILD_A) -> dict[str, int]:
    return {c.name: c.faces for c in await bot.services.recognizer.characters(str(guild))}


async def store(bot, guild: int, name: str, faces: int = 1) -> None:
    """Faces straight into the real gallery (random vectors: these tests are about names)."""
    rng = np.random.default_rng(abs(hash((guild, name))) % 2**32)
    recognizer = bot.services.recognizer
    await recognizer.gallery.add(
        [
            FaceRecord(
                str(guild),
                name,
                recognizer.model_id,
                rng.normal(size=recognizer.embedder.dim),
                f"{name}{i}",
                (0, 0, 9, 9),
            )
            for i in range(faces)
        ]
    )


async def test_forget_and_rename_need_admin_rights(kaobot):
    await store(kaobot, GUILD_A, "Alice")
    for name, args in (("forget", ("Alice",)), ("rename", ("Alice", "Alicia"))):
        fake = fake_interaction()
        await invoke(kaobot, command(kaobot, name), fake, *args)
        assert fake.last.ephemeral and fake.last.text.startswith("Only members with the Manage Server permission")
    assert await names(kaobot) == {"Alice": 1}


async def test_forget(kaobot):
    await store(kaobot, GUILD_A, "Alice", 2)
    await store(kaobot, GUILD_A, "Bella")
    fake = admin_interaction()
    await invoke(kaobot, command(kaobot, "forget"), fake, "Alice")
    assert fake.deferred == {"thinking": True, "ephemeral": True}
    assert fake.last.text == "Forgot **Alice** (2 face(s) deleted)."
    assert await names(kaobot) == {"Bella": 1}
    fake = admin_interaction()
    await invoke(kaobot, command(kaobot, "forget"), fake, "Alice")
    assert fake.last.ephemeral and fake.last.text == "No character named 'Alice' is enrolled here."


async def test_rename_and_merge(kaobot):
    await store(kaobot, GUILD_A, "Alice", 2)
    await store(kaobot, GUILD_A, "Alicia")
    fake = admin_interaction()
    await invoke(kaobot, command(kaobot, "rename"), fake, "Alice", "Alicia")
    assert fake.last.text == "Renamed **Alice** to **Alicia** (2 face(s))."
    assert await names(kaobot) == {"Alicia": 3}


async def test_guild_b_cannot_touch_guild_a(kaobot):
    await store(kaobot, GUILD_A, "Alice", 2)
    await store(kaobot, GUILD_B, "Zoe")
    for name, args in (("forget", ("Alice",)), ("rename", ("Alice", "Mallory"))):
        fake = admin_interaction(GUILD_B)
        await invoke(kaobot, command(kaobot, name), fake, *args)
        assert fake.last.text == "No character named 'Alice' is enrolled here."
    listing = fake_interaction(GUILD_B)
    await invoke(kaobot, command(kaobot, "characters"), listing)
    assert "Alice" not in listing.last.text and "**Zoe** · 1 face" in listing.last.text
    assert await names(kaobot) == {"Alice": 2}


async def test_characters_empty(kaobot):
    fake = fake_interaction()
    await invoke(kaobot, command(kaobot, "characters"), fake)
    assert (
        fake.last.text
        == "Characters\nNo characters are enrolled in this server yet. Admins can teach me with `/enroll`."
    )
    assert fake.last.view is None


async def test_characters_paginated_with_counts(kaobot):
    for i in range(20):
        await store(kaobot, GUILD_A, f"Character {i:02d}", faces=1 + i % 3)
    fake = fake_interaction()
    await invoke(kaobot, command(kaobot, "characters"), fake)
    first = fake.last.kwargs["embed"]
    assert first.title == "Characters (20)" and first.footer.text == "Page 1 of 2"
    lines = first.description.splitlines()
    assert len(lines) == 15 and lines[0] == "**Character 00** · 1 face" and lines[1] == "**Character 01** · 2 faces"
    view = fake.last.view
    assert [b.disabled for b in view.children] == [True, False]

    press = fake_interaction()
    await click(view, "Next ▶", press)
    page = press.last.kwargs["embed"]
    assert press.last.via == "edit" and page.footer.text == "Page 2 of 2"
    assert page.description.splitlines()[0] == "**Character 15** · 1 face"
    assert [b.disabled for b in view.children] == [False, True]

    stranger = fake_interaction(user_id=999)
    await click(view, "◀ Previous", stranger)
    assert stranger.last.ephemeral and view.index == 1


async def test_a_failing_button_is_logged_and_still_answered(kaobot, caplog):
    for i in range(20):
        await store(kaobot, GUILD_A, f"Character {i:02d}")
    fake = fake_interaction()
    await invoke(kaobot, command(kaobot, "characters"), fake)
    view = fake.last.view
    view.pages.clear()  # a bug: the pages vanished
    press = fake_interaction()
    with caplog.at_level(logging.ERROR, logger="bot.errors"):
        await click(view, "Next ▶", press)
    assert press.last.ephemeral and press.last.text.startswith("Something went wrong on my side")
    (record,) = [r for r in caplog.records if r.name == "bot.errors"]
    assert record.getMessage() == "unexpected error in a component" and record.exc_info
