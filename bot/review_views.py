"""Corrections on Discord: the "Correct a name" button on answers, its form, and `/review`'s pages.

The form is a modal. Discord cannot autocomplete inside a modal, so the names come in a select
menu inside the modal (a `discord.ui.Label`, discord.py ≥ 2.6): the answer's candidates first,
then the server's other characters, 25 at most; a text field takes a name that is not listed.
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

import discord

from recognition.gallery import CharacterInfo
from recognition.review import APPROVED
from recognition.review.service import FaceEvidence, ReviewDesk, ReviewItem
from recognition.service import Identification

from .errors import BadName, answer_error
from .guards import require_admin, valid_name
from .replies import NEUTRAL_COLOUR, clip
from .views import InvokerView

log = logging.getLogger(__name__)

CORRECT_LABEL = "Correct a name"
CORRECT_TIMEOUT = 900.0  # seconds the button stays usable on an answer
REVIEW_TIMEOUT = 600.0
MAX_OPTIONS = 25  # Discord's limit of options in one select menu


@dataclass(frozen=True)
class AnsweredPicture:
    """One picture of an answer as the correction form needs it."""

    title: str
    faces: list[FaceEvidence]
    candidates: list[list[str]]  # per face, the names kaobot considered, best first


async def answered(desk: ReviewDesk, title: str, result: Identification) -> AnsweredPicture:
    return AnsweredPicture(title, await desk.evidence(result), [[c.name for c in f.candidates] for f in result.faces])


def correction_view(desk: ReviewDesk | None, scope: str, pictures: Sequence[AnsweredPicture], link: str | None = None):
    """The button for an answer with faces, or None (corrections off, no face)."""
    pictures = [p for p in pictures if p.faces]
    if desk is None or not pictures:
        return None
    return CorrectionView(desk, scope, pictures, link)


class CorrectionView(discord.ui.View):
    """ "Correct a name" under an answer: any member of the server may press it."""

    def __init__(
        self,
        desk: ReviewDesk,
        scope: str,
        pictures: list[AnsweredPicture],
        link: str | None,
        timeout: float = CORRECT_TIMEOUT,
    ) -> None:
        super().__init__(timeout=timeout)
        self.desk, self.scope, self.pictures, self.link = desk, scope, pictures, link
        self.message: discord.Message | None = None

    def faces(self) -> list[tuple[str, FaceEvidence, list[str]]]:
        """(label, face, candidates) of every face of the answer."""
        several = len(self.pictures) > 1
        out = []
        for p_number, p in enumerate(self.pictures, start=1):
            for face, names in zip(p.faces, p.candidates):
                said = face.answer or "unknown"
                label = (
                    f"Picture {p_number}, face {face.number} · {said}" if several else f"Face {face.number} · {said}"
                )
                out.append((label, face, names))
        return out

    @discord.ui.button(label=CORRECT_LABEL, style=discord.ButtonStyle.secondary, emoji="✏️")
    async def correct(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        if str(interaction.guild_id) != self.scope:
            raise BadName("This answer belongs to another server.")
        characters = await self.desk.recognizer.characters(self.scope)
        await interaction.response.send_modal(CorrectionModal(self, characters, interaction.message))

    async def on_timeout(self) -> None:
        if self.message is not None:
            try:
                await self.message.edit(view=None)
            except discord.HTTPException:
                pass

    async def on_error(self, interaction: discord.Interaction, error: Exception, item: discord.ui.Item) -> None:
        await answer_error(interaction, error)


def _name_options(characters: Sequence[CharacterInfo], candidates: Sequence[str]) -> list[str]:
    """Names for the select menu: the answer's candidates first, then the rest by name; 25 at most."""
    known = {c.name for c in characters}
    names = list(dict.fromkeys(n for n in candidates if n in known))
    names += [c.name for c in characters if c.name not in names]
    return names[:MAX_OPTIONS]


class CorrectionModal(discord.ui.Modal, title="Correct a name"):
    """Which face (when there are several), which character (a list, or typed)."""

    def __init__(
        self, view: CorrectionView, characters: Sequence[CharacterInfo], message: discord.Message | None
    ) -> None:
        super().__init__(timeout=300.0)
        self.view = view
        self.message = message
        self.choices = view.faces()
        self.face_select: discord.ui.Select | None = None
        self.face_text: discord.ui.TextInput | None = None
        if 1 < len(self.choices) <= MAX_OPTIONS:
            self.face_select = discord.ui.Select(
                placeholder="Choose the face",
                options=[
                    discord.SelectOption(label=clip(label, 100), value=str(i))
                    for i, (label, _, _) in enumerate(self.choices)
                ],
            )
            self.add_item(discord.ui.Label(text="Which face?", component=self.face_select))
        elif len(self.choices) > MAX_OPTIONS:
            self.face_text = discord.ui.TextInput(placeholder=f"1 to {len(self.choices)}", max_length=4)
            self.add_item(discord.ui.Label(text="Which face? (its number, left to right)", component=self.face_text))
        candidates = [n for _, _, names in self.choices for n in names]
        self.names = _name_options(characters, candidates)
        self.name_select: discord.ui.Select | None = None
        if self.names:
            self.name_select = discord.ui.Select(
                placeholder="Choose the character",
                required=False,
                options=[discord.SelectOption(label=clip(n, 100), value=str(i)) for i, n in enumerate(self.names)],
            )
            self.add_item(discord.ui.Label(text="Who is it?", component=self.name_select))
        self.name_text = discord.ui.TextInput(
            placeholder="A character's name", required=not self.names, max_length=100, min_length=1
        )
        self.add_item(
            discord.ui.Label(text="Or type the name" if self.names else "Who is it?", component=self.name_text)
        )
        self.known = {c.name.casefold(): c.name for c in characters}

    def _face(self) -> FaceEvidence:
        if len(self.choices) == 1:
            return self.choices[0][1]
        if self.face_select is not None:
            if not self.face_select.values:
                raise BadName("Choose the face you are correcting.")
            return self.choices[int(self.face_select.values[0])][1]
        text = (self.face_text.value or "").strip() if self.face_text is not None else ""
        if not text.isdigit() or not 1 <= int(text) <= len(self.choices):
            raise BadName(f"The face number must be between 1 and {len(self.choices)}.")
        return self.choices[int(text) - 1][1]

    def _name(self) -> str:
        typed = (self.name_text.value or "").strip()
        if typed:
            name = valid_name(typed)
            return self.known.get(name.casefold(), name)  # the spelling the server already uses
        if self.name_select is not None and self.name_select.values:
            return self.names[int(self.name_select.values[0])]
        raise BadName("Choose a character from the list or type a name.")

    async def on_submit(self, interaction: discord.Interaction) -> None:
        face, name = self._face(), self._name()
        link = self.view.link or (self.message.jump_url if self.message is not None else None)
        s = await self.view.desk.suggest(self.view.scope, face, name, str(interaction.user.id), link)
        shown = discord.utils.escape_markdown(s.name)
        if s.status == APPROVED:
            text = f"Thanks! Enough members agreed: face {face.number} is now enrolled as **{shown}**."
        else:
            text = (
                f"Thanks! I noted **{shown}** for face {face.number}. An admin will review it "
                f"(suggestion `{s.id}`); nothing changes until then."
            )
        log.info("guild %s: user %s suggested %r (%s)", self.view.scope, interaction.user.id, s.name, s.id)
        await interaction.response.send_message(text, ephemeral=True)

    async def on_error(self, interaction: discord.Interaction, error: Exception) -> None:
        await answer_error(interaction, error)


# -- /review ---------------------------------------------------------------------------------------
def _ago(seconds: float) -> str:
    if seconds < 3600:
        return f"{max(1, int(seconds // 60))} min ago"
    if seconds < 86400:
        return f"{seconds / 3600:.0f} h ago"
    return f"{seconds / 86400:.0f} days ago"


def review_page(
    item: ReviewItem, position: int, total: int, now: float | None = None
) -> tuple[discord.Embed, discord.File]:
    """One suggestion: its face crop, what kaobot said, what the gallery says now."""
    s = item.suggestion
    now = time.time() if now is None else now
    esc = discord.utils.escape_markdown
    suggester = f"<@{s.suggester}>" if s.suggester.isdigit() else esc(s.suggester)
    lines = [f"Suggested: **{esc(s.name)}** by {suggester}, {_ago(now - s.created)}"]
    if item.votes > 1:
        lines[0] += f" ({item.votes} members agree)"
    lines.append(f"kaobot said: {'**' + esc(s.answer) + '**' if s.answer else 'unknown'}")
    if item.best is not None:
        lines.append(f"Closest in the gallery now: **{esc(item.best.name)}** ({item.best.similarity:.2f})")
    else:
        lines.append("Closest in the gallery now: nobody")
    if item.stale:
        lines.append("Made with an earlier model: approving re-embeds the face.")
    if s.message_link:
        lines.append(f"[Jump to the answer]({s.message_link})")
    embed = discord.Embed(
        title=f"Suggestion {position} of {total}", description="\n".join(lines), colour=NEUTRAL_COLOUR
    )
    filename = f"suggestion-{s.id}.jpg"
    embed.set_image(url=f"attachment://{filename}")
    embed.set_footer(text=f"ID {s.id} · Approve enrols this face as the suggested name; Approve as… under another")
    return embed, discord.File(io.BytesIO(s.crop), filename=filename)


class ReviewView(InvokerView):
    """Approve / Approve as… / Reject / Skip, one suggestion at a time, for the admin who ran /review."""

    def __init__(self, desk: ReviewDesk, scope: str, admin_id: int, settings, timeout: float = REVIEW_TIMEOUT) -> None:
        super().__init__(admin_id, timeout)
        self.desk, self.scope, self.settings = desk, scope, settings
        self.skipped: set[str] = set()
        self.item: ReviewItem | None = None
        self.total = 0
        self.done = 0

    async def load(self) -> bool:
        """The next pending suggestion not skipped; False when none is left."""
        self.item, waiting = await self.desk.next_item(self.scope, self.skipped)
        self.total = self.done + waiting
        return self.item is not None

    def page_kwargs(self, note: str | None = None) -> dict:
        if self.item is None:
            text = "No more suggestions are waiting." if not note else f"{note}\nNo more suggestions are waiting."
            return {"content": text, "embeds": [], "attachments": [], "view": None}
        embed, file = review_page(self.item, self.done + 1, self.total)
        return {"content": note, "embed": embed, "attachments": [file], "view": self}

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if not await super().interaction_check(interaction):
            return False
        require_admin(interaction, self.settings)  # rights can be taken away while the page is open
        return True

    async def show_next(self, interaction: discord.Interaction, note: str, advanced: bool = True) -> None:
        self.done += advanced
        if not await self.load():
            self.stop()
        await interaction.response.edit_message(**self.page_kwargs(note))

    async def decide(self, interaction: discord.Interaction, approve: bool, as_name: str | None = None) -> None:
        assert self.item is not None
        s = self.item.suggestion
        by = str(interaction.user.id)
        if approve:
            decision = await self.desk.approve(self.scope, s.id, by, as_name=as_name)
        else:
            decision = await self.desk.reject(self.scope, s.id, by)
        d = decision.suggestion
        esc = discord.utils.escape_markdown
        if not decision.changed:
            note = f"`{d.id}` was already {d.status} by someone else."
        elif approve:
            note = f"Approved: the face is now enrolled as **{esc(d.enrolled_as or d.name)}**."
            log.info("guild %s: user %s approved %s as %r", self.scope, by, d.id, d.enrolled_as)
        else:
            note = f"Rejected the suggestion **{esc(d.name)}**."
            log.info("guild %s: user %s rejected %s", self.scope, by, d.id)
        await self.show_next(interaction, note)

    @discord.ui.button(label="Approve", style=discord.ButtonStyle.success)
    async def approve(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await self.decide(interaction, approve=True)

    @discord.ui.button(label="Approve as…", style=discord.ButtonStyle.primary)
    async def approve_as(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        assert self.item is not None
        await interaction.response.send_modal(ApproveAsModal(self, self.item.suggestion.name))

    @discord.ui.button(label="Reject", style=discord.ButtonStyle.danger)
    async def reject(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await self.decide(interaction, approve=False)

    @discord.ui.button(label="Skip", style=discord.ButtonStyle.secondary)
    async def skip(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        assert self.item is not None
        self.skipped.add(self.item.suggestion.id)
        await self.show_next(interaction, "Skipped (it stays in the queue).")


class ApproveAsModal(discord.ui.Modal, title="Approve as…"):
    """The name to enrol the face under instead of the suggested one."""

    def __init__(self, view: ReviewView, suggested: str) -> None:
        super().__init__(timeout=300.0)
        self.view = view
        self.name = discord.ui.TextInput(default=suggested, max_length=100, min_length=1)
        self.add_item(discord.ui.Label(text="Enrol the face as", component=self.name))

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await self.view.decide(interaction, approve=True, as_name=valid_name(self.name.value or ""))

    async def on_error(self, interaction: discord.Interaction, error: Exception) -> None:
        await answer_error(interaction, error)
