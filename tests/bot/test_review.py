"""Corrections on Discord through discord.py's own types: the "Correct a name" button on an
answer, its modal, and `/review` with Approve / Approve as… / Reject / Skip."""

from __future__ import annotations

import pytest

from bot.review_views import CORRECT_LABEL, ApproveAsModal, CorrectionModal, CorrectionView, ReviewView
from recognition.config import ReviewSettings
from recognition.review import APPROVED, PENDING, REJECTED

from .support import (
    ADMIN,
    GUILD_A,
    GUILD_B,
    MEMBER,
    admin_interaction,
    attachment,
    click,
    fake_interaction,
    fake_message,
    invoke,
    submit,
)

OTHER_MEMBER = 777777777777777777
REPLY_LINK = "https://discord.com/channels/111111111111111111/333333333333333333/999"


@pytest.fixture
async def alice_known(kaobot, alice_png_2):
    await kaobot.services.recognizer.enroll("Alice", alice_png_2, str(GUILD_A))
    return kaobot


async def answer(bot, cdn, data: bytes, guild_id: int = GUILD_A) -> CorrectionView:
    """`/whois` a picture; the view under the answer."""
    fake = fake_interaction(guild_id)
    await invoke(bot, bot.get_cog("Whois").whois, fake, attachment(cdn.put(f"p{len(cdn.files)}.png", data)))
    (sent,) = fake.sent
    view = sent.view
    assert isinstance(view, CorrectionView) and sent.kwargs["wait"] is True
    assert [c.label for c in view.children] == [CORRECT_LABEL]
    return view


def pressing(user_id: int = MEMBER, guild_id: int = GUILD_A, **kwargs):
    """An interaction on a button under the bot's answer message."""
    fake = fake_interaction(guild_id, user_id, **kwargs)
    fake.interaction.message = fake_message(guild_id=guild_id)
    fake.interaction.message.jump_url = REPLY_LINK
    return fake


async def open_form(view: CorrectionView, user_id: int = MEMBER) -> CorrectionModal:
    fake = pressing(user_id)
    await click(view, CORRECT_LABEL, fake)
    (sent,) = fake.sent
    assert sent.via == "modal"
    (modal,) = sent.kwargs["args"]
    assert isinstance(modal, CorrectionModal)
    return modal


async def suggest(view: CorrectionView, user_id: int = MEMBER, **values) -> str:
    modal = await open_form(view, user_id)
    fake = pressing(user_id)
    await submit(modal, fake, **values)
    (sent,) = fake.sent
    assert sent.ephemeral
    return sent.text


async def test_a_member_corrects_an_answer_and_nothing_is_enrolled_yet(alice_known, cdn, bella_png):
    view = await answer(alice_known, cdn, bella_png)
    modal = await open_form(view)
    assert modal.face_select is None  # one face: no face to choose
    assert modal.names == ["Alice"] and modal.name_select is not None  # the server's names, in a select menu
    text = await suggest(view, name_text="Bella")
    assert text.startswith("Thanks! I noted **Bella** for face 1. An admin will review it")
    recognizer = alice_known.services.recognizer
    assert [(c.name, c.faces) for c in await recognizer.characters(str(GUILD_A))] == [("Alice", 1)]
    (item,) = await alice_known.services.review.pending(str(GUILD_A))
    s = item.suggestion
    assert (s.name, s.suggester, s.message_link, s.status) == ("Bella", str(MEMBER), REPLY_LINK, PENDING)
    assert s.crop[:2] == b"\xff\xd8"


async def test_the_face_and_the_name_can_be_chosen_from_menus(alice_known, cdn, pair_png):
    view = await answer(alice_known, cdn, pair_png)
    modal = await open_form(view)
    assert [o.label for o in modal.face_select.options] == ["Face 1 · Alice", "Face 2 · unknown"]
    await suggest(view, face_select=["1"], name_select=["0"])  # face 2 is Alice too, says the member
    (item,) = await alice_known.services.review.pending(str(GUILD_A))
    assert item.suggestion.name == "Alice" and item.suggestion.answer is None


async def test_a_typed_name_takes_the_servers_spelling(alice_known, cdn, pair_png):
    view = await answer(alice_known, cdn, pair_png)
    await suggest(view, face_select=["1"], name_text="  alice ")
    (item,) = await alice_known.services.review.pending(str(GUILD_A))
    assert item.suggestion.name == "Alice"


async def test_the_form_refuses_what_it_cannot_use(alice_known, cdn, pair_png, bella_png):
    view = await answer(alice_known, cdn, pair_png)
    assert "Choose the face" in await suggest(view, name_text="Bella")
    assert "Choose a character from the list or type a name" in await suggest(view, face_select=["0"])
    assert "already answered 'Alice'" in await suggest(view, face_select=["0"], name_text="Alice")
    assert await alice_known.services.review.pending(str(GUILD_A)) == []


async def test_member_rate_limit_is_answered_politely(alice_known, cdn, alice_png, bella_png):
    alice_known.services.review.settings = ReviewSettings(member_limit=1)
    first = await answer(alice_known, cdn, bella_png)
    second = await answer(alice_known, cdn, alice_png)
    assert (await suggest(first, name_text="Bella")).startswith("Thanks!")
    assert "You can suggest 1 name(s) per 60 minutes" in await suggest(second, name_text="Carla")
    assert (await suggest(second, OTHER_MEMBER, name_text="Carla")).startswith("Thanks!")


async def test_review_is_for_admins_only(alice_known, cdn, bella_png):
    await suggest(await answer(alice_known, cdn, bella_png), name_text="Bella")
    fake = fake_interaction()
    await invoke(alice_known, alice_known.get_cog("Review").review, fake)
    (sent,) = fake.sent
    assert sent.ephemeral and "Only members with the Manage Server permission" in sent.text
    assert await alice_known.services.recognizer.gallery.count(str(GUILD_A)) == 1


async def open_review(bot, guild_id: int = GUILD_A):
    fake = admin_interaction(guild_id)
    await invoke(bot, bot.get_cog("Review").review, fake)
    assert fake.deferred == {"thinking": True, "ephemeral": True}
    (sent,) = fake.sent
    assert sent.ephemeral
    return sent


async def test_admin_approves_and_the_face_is_recognised(alice_known, cdn, bella_png):
    await suggest(await answer(alice_known, cdn, bella_png), name_text="Bella")
    sent = await open_review(alice_known)
    view = sent.view
    assert isinstance(view, ReviewView)
    assert [c.label for c in view.children] == ["Approve", "Approve as…", "Reject", "Skip"]
    embed = sent.kwargs["embed"]
    (file,) = sent.files
    assert embed.title == "Suggestion 1 of 1" and embed.image.url == f"attachment://{file.filename}"
    assert f"**Bella** by <@{MEMBER}>" in embed.description and "kaobot said: " in embed.description
    assert "Closest in the gallery now: **Alice**" in embed.description and REPLY_LINK in embed.description

    fake = admin_interaction()
    await click(view, "Approve", fake)
    (edit,) = fake.sent
    assert edit.via == "edit" and edit.kwargs["view"] is None
    assert "Approved: the face is now enrolled as **Bella**" in edit.kwargs["content"]
    recognizer = alice_known.services.recognizer
    assert sorted(c.name for c in await recognizer.characters(str(GUILD_A))) == ["Alice", "Bella"]
    (face,) = (await recognizer.identify(bella_png, str(GUILD_A))).faces
    assert face.name == "Bella"
    (decided,) = await alice_known.services.review.queue.history(str(GUILD_A))
    assert (decided.status, decided.decided_by) == (APPROVED, str(ADMIN))


async def test_approve_as_reject_and_skip(alice_known, cdn, alice_png, bella_png, pair_png):
    await suggest(await answer(alice_known, cdn, bella_png), name_text="Belle")
    await suggest(await answer(alice_known, cdn, alice_png), name_text="Carla")
    await suggest(await answer(alice_known, cdn, pair_png), OTHER_MEMBER, face_select=["1"], name_text="Dora")
    view = (await open_review(alice_known)).view

    fake = admin_interaction()
    await click(view, "Approve as…", fake)
    (modal,) = fake.last.kwargs["args"]
    assert isinstance(modal, ApproveAsModal) and modal.name.default == "Belle"
    fake = admin_interaction()
    await submit(modal, fake, name="Bella")
    assert (
        "enrolled as **Bella**" in fake.last.kwargs["content"]
        and fake.last.kwargs["embed"].title == "Suggestion 2 of 3"
    )

    fake = admin_interaction()
    await click(view, "Reject", fake)
    assert "Rejected the suggestion **Carla**" in fake.last.kwargs["content"]
    fake = admin_interaction()
    await click(view, "Skip", fake)
    assert "No more suggestions are waiting" in fake.last.kwargs["content"]

    desk = alice_known.services.review
    assert [i.suggestion.name for i in await desk.pending(str(GUILD_A))] == ["Dora"]
    statuses = {s.name: (s.status, s.enrolled_as) for s in await desk.queue.history(str(GUILD_A))}
    assert statuses == {"Belle": (APPROVED, "Bella"), "Carla": (REJECTED, None)}
    names = sorted(c.name for c in await alice_known.services.recognizer.characters(str(GUILD_A)))
    assert names == ["Alice", "Bella"]


async def test_only_the_admin_who_opened_review_uses_its_buttons(alice_known, cdn, bella_png):
    await suggest(await answer(alice_known, cdn, bella_png), name_text="Bella")
    view = (await open_review(alice_known)).view
    fake = fake_interaction(GUILD_A, OTHER_MEMBER)
    await click(view, "Approve", fake)
    assert "Only the person who ran the command" in fake.last.text
    # the same admin without the Manage Server right any more
    fake = fake_interaction(GUILD_A, ADMIN)
    await click(view, "Approve", fake)
    assert "Only members with the Manage Server permission" in fake.last.text
    assert await alice_known.services.recognizer.gallery.count(str(GUILD_A)) == 1


async def test_servers_have_their_own_queues(alice_known, cdn, bella_png):
    await suggest(await answer(alice_known, cdn, bella_png), name_text="Bella")
    fake = admin_interaction(GUILD_B)
    await invoke(alice_known, alice_known.get_cog("Review").review, fake)
    assert fake.last.text == "No suggestions are waiting for review."
    # a button pressed from another server (a forwarded message) is refused
    view = await answer(alice_known, cdn, bella_png)
    fake = pressing(guild_id=GUILD_B)
    await click(view, CORRECT_LABEL, fake)
    assert fake.last.via == "response" and "another server" in fake.last.text


async def test_approving_twice_from_two_review_pages_enrols_once(alice_known, cdn, bella_png):
    await suggest(await answer(alice_known, cdn, bella_png), name_text="Bella")
    first, second = (await open_review(alice_known)).view, (await open_review(alice_known)).view
    await click(first, "Approve", admin_interaction())
    fake = admin_interaction()
    await click(second, "Approve", fake)
    assert "was already approved by someone else" in fake.last.kwargs["content"]
    bella = [c for c in await alice_known.services.recognizer.characters(str(GUILD_A)) if c.name == "Bella"]
    assert [c.faces for c in bella] == [1]


async def test_context_menu_answers_link_to_the_posted_message(alice_known, cdn, bella_png):
    message = fake_message([attachment(cdn.put("b.png", bella_png))])
    fake = fake_interaction()
    await invoke(alice_known, alice_known.get_cog("Whois").menu, fake, message)
    view = fake.last.view
    assert isinstance(view, CorrectionView) and view.link == message.jump_url
    await suggest(view, name_text="Bella")
    (item,) = await alice_known.services.review.pending(str(GUILD_A))
    assert item.suggestion.message_link == message.jump_url


async def test_corrections_can_be_switched_off(bots, cdn, bella_png):
    bots.settings.review.enabled = False
    bot = await bots.start()
    fake = fake_interaction()
    await invoke(bot, bot.get_cog("Whois").whois, fake, attachment(cdn.put("b.png", bella_png)))
    assert "view" not in fake.last.kwargs
    fake = admin_interaction()
    await invoke(bot, bot.get_cog("Review").review, fake)
    assert "switched off" in fake.last.text


# -- unknowns worth enrolling: "this face came back N times: who is it?" ------------------------------
async def test_faces_that_keep_coming_back_unknown_are_offered_and_named_at_once(kaobot, cdn, bella_png, alice_png):
    from bot.review_views import NameUnknownsModal, UnknownsView

    desk = kaobot.services.review
    desk.settings = ReviewSettings(unknowns=[str(GUILD_A)], unknowns_min_count=3)
    for i in range(3):  # three posts of the same (unknown) face: different pictures, a byte apart
        await answer(kaobot, cdn, bella_png + bytes([i]))
    await answer(kaobot, cdn, bella_png, guild_id=GUILD_B)  # GUILD_B did not opt in
    assert await desk.queue.unknowns(str(GUILD_B)) == []

    sent = await open_review(kaobot)
    view = sent.view
    assert isinstance(view, UnknownsView)
    assert [c.label for c in view.children] == ["Name it…", "Not a character", "Skip"]
    embed = sent.kwargs["embed"]
    (file,) = sent.files
    assert embed.title == "This face came back 3 times: who is it?"
    assert embed.image.url == f"attachment://{file.filename}"

    fake = fake_interaction(GUILD_A, OTHER_MEMBER)  # only the admin who opened it
    await click(view, "Name it…", fake)
    assert "Only the person who ran the command" in fake.last.text
    fake = admin_interaction()
    await click(view, "Name it…", fake)
    (modal,) = fake.last.kwargs["args"]
    assert isinstance(modal, NameUnknownsModal)
    fake = admin_interaction()
    await submit(modal, fake, name="Bella")
    assert "Enrolled 3 face(s) as **Bella**" in fake.last.kwargs["content"] and fake.last.kwargs["view"] is None
    recognizer = kaobot.services.recognizer
    assert await recognizer.gallery.count(str(GUILD_A)) == 3
    (face,) = (await recognizer.identify(bella_png, str(GUILD_A))).faces
    assert face.name == "Bella"
    assert {s.decided_by for s in await desk.queue.history(str(GUILD_A))} == {str(ADMIN)}


async def test_review_moves_on_to_unknown_faces_and_dismisses_them(alice_known, cdn, carla_png, pair_png):
    desk = alice_known.services.review
    desk.settings = ReviewSettings(unknowns=["*"], unknowns_min_count=2)
    await suggest(await answer(alice_known, cdn, carla_png), name_text="Carla")  # also kept: it was unknown
    await answer(alice_known, cdn, carla_png + b"\x00")
    view = (await open_review(alice_known)).view
    assert isinstance(view, ReviewView)
    fake = admin_interaction()
    await click(view, "Reject", fake)
    assert fake.last.kwargs["embed"].title == "This face came back 2 times: who is it?"
    unknowns = fake.last.kwargs["view"]
    fake = admin_interaction()
    await click(unknowns, "Not a character", fake)
    assert "Forgot those 2 face(s)" in fake.last.kwargs["content"]
    assert await desk.queue.unknowns(str(GUILD_A)) == []
    assert await alice_known.services.recognizer.gallery.count(str(GUILD_A)) == 1
