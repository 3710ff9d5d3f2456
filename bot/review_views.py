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
from recognition.review.service import FaceEvidence, ReviewDesk, ReviewItem, UnknownCluster
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


async def answered(desk: ReviewDesk, title: str, result: Identification, scope: str | None = None) -> AnsweredPicture:
    """What the correction form needs of one answer; with `scope`, its "unknown" faces are also kept
    for clustering where the server opted in (`review.unknowns`)."""
    faces = await desk.evidence(result)
    if scope is not None:
        await desk.note_unknowns(scope, faces)
    return AnsweredPicture(title, faces, [[c.name for c in f.candidates] for f in result.faces])


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
            unknowns = UnknownsView(self.desk, self.scope, self.invoker_id, self.settings)
            if await unknowns.load():  # suggestions done: the faces that keep coming back unknown
                await interaction.response.edit_message(**unknowns.page_kwargs(note))
                return
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


# -- /review, then: unknowns worth enrolling ---------------------------------------------------------
async def first_review_view(desk: ReviewDesk, scope: str, admin_id: int, settings) -> ReviewView | UnknownsView | None:
    """What /review opens on: the oldest pending suggestion, else the largest cluster of faces that
    kept coming back unknown (where the server opted in), else None."""
    view = ReviewView(desk, scope, admin_id, settings)
    if await view.load():
        return view
    unknowns = UnknownsView(desk, scope, admin_id, settings)
    return unknowns if await unknowns.load() else None


def unknown_page(cluster: UnknownCluster, position: int, total: int, now: float | None = None):
    """A cluster of unknown faces: its most typical face, how often and since when it came back."""
    now = time.time() if now is None else now
    esc = discord.utils.escape_markdown
    first, last = cluster.faces[0].created, cluster.faces[-1].created
    lines = [f"Seen {cluster.size} times, first {_ago(now - first)}, last {_ago(now - last)}; kaobot said unknown."]
    if cluster.best is not None:
        lines.append(f"Closest in the gallery now: **{esc(cluster.best.name)}** ({cluster.best.similarity:.2f})")
    else:
        lines.append("Closest in the gallery now: nobody")
    links = [s.message_link for s in reversed(cluster.faces) if s.message_link][:3]
    if links:
        lines.append(" · ".join(f"[post {i}]({link})" for i, link in enumerate(links, start=1)))
    embed = discord.Embed(
        title=f"This face came back {cluster.size} times: who is it?",
        description="\n".join(lines),
        colour=NEUTRAL_COLOUR,
    )
    filename = f"unknown-{cluster.id}.jpg"
    embed.set_image(url=f"attachment://{filename}")
    embed.set_footer(
        text=f"Unknown face {position} of {total} · ID {cluster.id} · Name it… enrols all {cluster.size} faces"
    )
    return embed, discord.File(io.BytesIO(cluster.representative.crop), filename=filename)


class UnknownsView(InvokerView):
    """Name it… / Not a character / Skip, one cluster of unknown faces at a time (admins)."""

    def __init__(self, desk: ReviewDesk, scope: str, admin_id: int, settings, timeout: float = REVIEW_TIMEOUT) -> None:
        super().__init__(admin_id, timeout)
        self.desk, self.scope, self.settings = desk, scope, settings
        self.skipped: set[str] = set()
        self.cluster: UnknownCluster | None = None
        self.total = 0
        self.done = 0

    async def load(self) -> bool:
        """The largest cluster not skipped; False when none is left (or the server did not opt in)."""
        if not self.desk.keeps_unknowns(self.scope):
            return False
        waiting = [c for c in await self.desk.unknown_clusters(self.scope) if c.id not in self.skipped]
        self.cluster = waiting[0] if waiting else None
        self.total = self.done + len(waiting)
        return self.cluster is not None

    def page_kwargs(self, note: str | None = None) -> dict:
        if self.cluster is None:
            text = "No more unknown faces are waiting."
            return {"content": f"{note}\n{text}" if note else text, "embeds": [], "attachments": [], "view": None}
        embed, file = unknown_page(self.cluster, self.done + 1, self.total)
        return {"content": note, "embed": embed, "attachments": [file], "view": self}

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if not await super().interaction_check(interaction):
            return False
        require_admin(interaction, self.settings)
        return True

    async def show_next(self, interaction: discord.Interaction, note: str, advanced: bool = True) -> None:
        self.done += advanced
        if not await self.load():
            self.stop()
        await interaction.response.edit_message(**self.page_kwargs(note))

    async def name(self, interaction: discord.Interaction, name: str) -> None:
        assert self.cluster is not None
        by = str(interaction.user.id)
        decisions = await self.desk.name_unknowns(self.scope, self.cluster.id, name, by)
        enrolled = sum(d.changed for d in decisions)
        log.info("guild %s: user %s named %d unknown faces %r", self.scope, by, enrolled, name)
        shown = discord.utils.escape_markdown(decisions[0].suggestion.enrolled_as or name) if decisions else name
        await self.show_next(interaction, f"Enrolled {enrolled} face(s) as **{shown}**.")

    @discord.ui.button(label="Name it…", style=discord.ButtonStyle.success)
    async def name_it(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await interaction.response.send_modal(NameUnknownsModal(self))

    @discord.ui.button(label="Not a character", style=discord.ButtonStyle.danger)
    async def dismiss(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        assert self.cluster is not None
        dropped = await self.desk.dismiss_unknowns(self.scope, self.cluster.id)
        await self.show_next(interaction, f"Forgot those {dropped} face(s); nothing was enrolled.")

    @discord.ui.button(label="Skip", style=discord.ButtonStyle.secondary)
    async def skip(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        assert self.cluster is not None
        self.skipped.add(self.cluster.id)
        await self.show_next(interaction, "Skipped (the faces stay kept).")


class NameUnknownsModal(discord.ui.Modal, title="Who is it?"):
    """The name to enrol every face of the cluster under."""

    def __init__(self, view: UnknownsView) -> None:
        super().__init__(timeout=300.0)
        self.view = view
        self.name = discord.ui.TextInput(placeholder="A character's name", max_length=100, min_length=1)
        self.add_item(discord.ui.Label(text="Enrol these faces as", component=self.name))

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await self.view.name(interaction, valid_name(self.name.value or ""))

    async def on_error(self, interaction: discord.Interaction, error: Exception) -> None:
        await answer_error(interaction, error)
