"""`/enroll`: admins only (checked in code), face picking by buttons or the `face` option."""

from __future__ import annotations

import asyncio

import discord
import pytest

from .support import (
    ADMIN,
    ADMIN_ROLE,
    GUILD_A,
    GUILD_B,
    admin_interaction,
    attachment,
    click,
    fake_interaction,
    invoke,
    picture_size,
)


def enroll(bot):
    return bot.get_cog("Enroll").enroll


async def characters(bot, guild=GUILD_A) -> dict[str, int]:
    return {c.name: c.faces for c in await bot.services.recognizer.characters(str(guild))}


async def until(condition, timeout=10.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


@pytest.mark.parametrize(
    "permissions", [discord.Permissions.none(), discord.Permissions(send_messages=True, manage_messages=True)]
)
async def test_non_admin_is_refused_and_nothing_is_stored(kaobot, cdn, alice_png, permissions):
    fake = fake_interaction(permissions=permissions)
    await invoke(kaobot, enroll(kaobot), fake, "Alice", attachment(cdn.put("a.png", alice_png)))
    (sent,) = fake.sent
    assert sent.via == "response" and sent.ephemeral
    assert sent.text == "Only members with the Manage Server permission (or the kaobot admin role) can do that."
    assert await kaobot.services.recognizer.gallery.count() == 0
    assert cdn.hits == []  # refused before downloading anything


async def test_admin_enrolls_a_single_face(kaobot, cdn, alice_png):
    fake = admin_interaction()
    await invoke(kaobot, enroll(kaobot), fake, "  Alice  ", attachment(cdn.put("a.png", alice_png)))
    assert fake.deferred == {"thinking": True, "ephemeral": True}
    assert fake.last.ephemeral
    assert fake.last.text == "Enrolled\nFace 1 of 1 is now **Alice** (1 face(s) stored for this character)."
    assert await characters(kaobot) == {"Alice": 1}
    assert await characters(kaobot, GUILD_B) == {}


async def test_configured_role_counts_as_admin(kaobot, cdn, alice_png):
    fake = fake_interaction(roles=(ADMIN_ROLE,))
    await invoke(kaobot, enroll(kaobot), fake, "Alice", attachment(cdn.put("a.png", alice_png)))
    assert "is now **Alice**" in fake.last.text
    assert await characters(kaobot) == {"Alice": 1}


async def test_administrator_permission_counts_as_admin(kaobot, cdn, alice_png):
    fake = fake_interaction(permissions=discord.Permissions(administrator=True))
    await invoke(kaobot, enroll(kaobot), fake, "Alice", attachment(cdn.put("a.png", alice_png)))
    assert await characters(kaobot) == {"Alice": 1}


async def test_face_option_picks_directly(kaobot, cdn, pair_png):
    fake = admin_interaction()
    await invoke(kaobot, enroll(kaobot), fake, "Bella", attachment(cdn.put("p.png", pair_png)), face=2)
    assert fake.last.text.endswith("Face 2 of 2 is now **Bella** (1 face(s) stored for this character).")
    fake = admin_interaction()
    await invoke(kaobot, enroll(kaobot), fake, "Carla", attachment(cdn.put("p2.png", pair_png)), face=3)
    assert fake.last.ephemeral
    assert fake.last.text == "The picture has 2 face(s): choose a face number from 1 to 2."
    assert await characters(kaobot) == {"Bella": 1}


async def test_several_faces_are_shown_numbered_and_a_button_picks_one(kaobot, cdn, pair_png, alice_png, bella_png):
    fake = admin_interaction()
    task = asyncio.create_task(invoke(kaobot, enroll(kaobot), fake, "Bella", attachment(cdn.put("p.png", pair_png))))
    await until(lambda: fake.sent)
    picker = fake.last
    assert picker.ephemeral and picker.text.startswith("Which face is Bella?\nI found 2 faces.")
    assert [b.label for b in picker.view.children] == ["1", "2", "Cancel"]
    assert picture_size(picker.files[0]) == (700, 400)

    stranger = fake_interaction(user_id=12345)
    await click(picker.view, "1", stranger)
    assert stranger.last.ephemeral and stranger.last.text.startswith("Only the person who ran the command")
    assert not task.done()

    button = fake_interaction(GUILD_A, ADMIN)
    await click(picker.view, "2", button)
    assert button.last.via == "edit" and button.last.kwargs["view"] is None  # the buttons go away
    await asyncio.wait_for(task, 10)
    assert fake.last.text.endswith("Face 2 of 2 is now **Bella** (1 face(s) stored for this character).")
    assert await characters(kaobot) == {"Bella": 1}

    # The stored face is Bella's: she is recognised alone, Alice is not taken for her.
    whois = kaobot.get_cog("Whois").whois
    for data, expected in ((bella_png, "**Bella**"), (alice_png, "unknown")):
        asked = fake_interaction()
        await invoke(kaobot, whois, asked, attachment(cdn.put("q.png", data)))
        assert expected in asked.last.kwargs["embeds"][0].description


async def test_cancel_stores_nothing(kaobot, cdn, pair_png):
    fake = admin_interaction()
    task = asyncio.create_task(invoke(kaobot, enroll(kaobot), fake, "Bella", attachment(cdn.put("p.png", pair_png))))
    await until(lambda: fake.sent)
    await click(fake.last.view, "Cancel", fake_interaction(GUILD_A, ADMIN))
    await asyncio.wait_for(task, 10)
    assert fake.last.ephemeral and fake.last.text == "Cancelled: nothing was enrolled."
    assert await characters(kaobot) == {}


async def test_no_choice_in_time_stores_nothing(kaobot, cdn, pair_png):
    kaobot.get_cog("Enroll").pick_timeout = 0.2
    fake = admin_interaction()
    await invoke(kaobot, enroll(kaobot), fake, "Bella", attachment(cdn.put("p.png", pair_png)))
    assert fake.last.text == "No face was chosen in time: nothing was enrolled."
    assert await characters(kaobot) == {}


async def test_same_picture_twice_and_no_face(kaobot, cdn, alice_png, blank_png):
    url = cdn.put("a.png", alice_png)
    await invoke(kaobot, enroll(kaobot), admin_interaction(), "Alice", attachment(url))
    again = admin_interaction()
    await invoke(kaobot, enroll(kaobot), again, "Alice", attachment(url))
    assert again.last.ephemeral and again.last.text == "This picture is already enrolled for 'Alice'."
    blank = admin_interaction()
    await invoke(kaobot, enroll(kaobot), blank, "Alice", attachment(cdn.put("b.png", blank_png)))
    assert blank.last.text == "I found no face in that picture, so nothing was enrolled."
    assert await characters(kaobot) == {"Alice": 1}


async def test_a_picture_already_enrolled_is_refused_before_asking_for_a_face(kaobot, cdn, pair_png):
    url = cdn.put("p.png", pair_png)
    await invoke(kaobot, enroll(kaobot), admin_interaction(), "Bella", attachment(url), face=2)
    again = admin_interaction()
    await asyncio.wait_for(invoke(kaobot, enroll(kaobot), again, "Bella", attachment(url)), 10)
    (sent,) = again.sent
    assert sent.view is None and sent.text == "This picture is already enrolled for 'Bella'."
    assert await characters(kaobot) == {"Bella": 1}


async def test_bad_names_and_files_are_refused(kaobot, cdn, alice_png):
    fake = admin_interaction()
    await invoke(kaobot, enroll(kaobot), fake, "   ", attachment(cdn.put("a.png", alice_png)))
    assert fake.last.ephemeral and fake.last.text == "A character name cannot be empty."
    fake = admin_interaction()
    await invoke(
        kaobot, enroll(kaobot), fake, "Alice", attachment(cdn.put("a.txt", b"hi"), "a.txt", content_type="text/plain")
    )
    assert fake.last.text.startswith("a.txt is not a picture")
    assert await kaobot.services.recognizer.gallery.count() == 0


async def test_dms_are_refused(kaobot, cdn, alice_png):
    fake = fake_interaction(guild_id=None, permissions=discord.Permissions.all())
    await invoke(kaobot, enroll(kaobot), fake, "Alice", attachment(cdn.put("a.png", alice_png)))
    assert "servers only" in fake.last.text
    assert await kaobot.services.recognizer.gallery.count() == 0
