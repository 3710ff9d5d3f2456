"""`/enroll`: admins teach kaobot a character from a picture, picking the face when there are several."""

from __future__ import annotations

import asyncio
import logging

import discord
from discord import app_commands
from discord.ext import commands

from recognition.errors import DoubtfulFace, DuplicateEnrollment, NoFaceFound
from recognition.images import image_hash

from ..client import Kaobot
from ..guards import guild_scope, require_admin, valid_name
from ..replies import Reply, enrolled_reply, picker_reply
from ..sources import attachment_source
from ..views import MAX_PICKABLE, FacePicker

log = logging.getLogger(__name__)

PICK_TIMEOUT = 180.0


class Enroll(commands.Cog):
    """Teach kaobot a character."""

    def __init__(self, bot: Kaobot) -> None:
        self.bot = bot
        self.services = bot.services
        self.pick_timeout = PICK_TIMEOUT

    @app_commands.command(name="enroll", description="Teach kaobot a character from a picture (admins)")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)  # a hint only; require_admin enforces it
    @app_commands.describe(
        name="The character's name",
        image="A picture of the character",
        face="Which face, numbered left to right (asked when the picture has several)",
    )
    async def enroll(
        self,
        interaction: discord.Interaction,
        name: app_commands.Range[str, 1, 100],
        image: discord.Attachment,
        face: app_commands.Range[int, 1, 50] | None = None,
    ) -> None:
        services = self.services
        scope = guild_scope(interaction)
        require_admin(interaction, services.settings)
        name = valid_name(name)
        source = attachment_source(image, services.max_download)
        async with services.queue.slot():
            await interaction.response.defer(thinking=True, ephemeral=True)
            data = await services.fetcher.fetch(source.url)
            recognizer = services.recognizer
            # Refuse a picture already enrolled for this name before any work (and before asking for a face).
            if await recognizer.gallery.has_source(scope, name, recognizer.model_id, image_hash(data)):
                raise DuplicateEnrollment(f"this picture is already enrolled for {name!r}")
            analysis = await recognizer.analyse_async(data)
        if not analysis.faces:
            raise NoFaceFound("I found no face in that picture, so nothing was enrolled.")
        if face is None and len(analysis.faces) > 1:
            if len(analysis.faces) > MAX_PICKABLE:
                raise NoFaceFound(
                    f"That picture has {len(analysis.faces)} faces: run `/enroll` again with the `face` option."
                )
            face = await self._pick(interaction, analysis.image, [f.box for f in analysis.faces], name)
            if face is None:
                return
        try:
            enrollment = await services.recognizer.enroll_analysis(name, analysis, scope, face)
        except DoubtfulFace as exc:
            raise DoubtfulFace(
                f"{exc}. To enrol it anyway, run `/enroll` again with the `face` option; or use a clearer picture."
            ) from None
        stored = next((c.faces for c in await services.recognizer.characters(scope) if c.name == enrollment.name), 1)
        log.info("guild %s: user %s enrolled a face for %r", scope, interaction.user.id, enrollment.name)
        await interaction.followup.send(**enrolled_reply(enrollment, stored).send_kwargs(), ephemeral=True)

    async def _pick(
        self, interaction: discord.Interaction, image, boxes: list[tuple[int, int, int, int]], name: str
    ) -> int | None:
        """Show the numbered faces with one button each; the chosen number, or `None` (cancel, timeout)."""
        # The deadline is ours, not the view's: a view's own timeout starts only once Discord
        # delivered the message, and `stop()` releases it from the view store either way.
        view = FacePicker(interaction.user.id, len(boxes), timeout=None)
        reply = picker_reply(image, boxes, name, limit=interaction.filesize_limit)
        await interaction.followup.send(**reply.send_kwargs(), view=view, ephemeral=True)
        try:
            await asyncio.wait_for(view.wait(), self.pick_timeout)
            timed_out = False
        except asyncio.TimeoutError:
            view.stop()
            timed_out = True
        if view.choice is None:
            why = "No face was chosen in time" if timed_out else "Cancelled"
            await interaction.followup.send(
                **Reply(content=f"{why}: nothing was enrolled.").send_kwargs(), ephemeral=True
            )
        return view.choice


async def setup(bot: Kaobot) -> None:
    await bot.add_cog(Enroll(bot))
