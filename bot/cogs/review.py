"""`/review` (admins): members' suggested names, one at a time, to approve or reject; then the faces
that kept coming back unknown (`review.unknowns`), to name."""

from __future__ import annotations

import logging

import discord
from discord import app_commands
from discord.ext import commands

from ..client import Kaobot
from ..errors import NotAllowed
from ..guards import guild_scope, require_admin
from ..review_views import first_review_view

log = logging.getLogger(__name__)


class Review(commands.Cog):
    """Approve what members suggested with "Correct a name"."""

    def __init__(self, bot: Kaobot) -> None:
        self.bot = bot
        self.services = bot.services

    @app_commands.command(name="review", description="Names suggested by members, to approve or reject (admins)")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)  # a hint only; require_admin enforces it
    async def review(self, interaction: discord.Interaction) -> None:
        services = self.services
        scope = guild_scope(interaction)
        require_admin(interaction, services.settings)
        desk = services.review
        if desk is None:
            raise NotAllowed("Corrections are switched off for this bot (`review.enabled: false`).")
        await interaction.response.defer(thinking=True, ephemeral=True)
        view = await first_review_view(desk, scope, interaction.user.id, services.settings)
        if view is None:
            await interaction.followup.send("No suggestions are waiting for review.", ephemeral=True)
            return
        kwargs = view.page_kwargs()
        kwargs["files"] = kwargs.pop("attachments")
        kwargs.pop("content")
        await interaction.followup.send(**kwargs, ephemeral=True)


async def setup(bot: Kaobot) -> None:
    await bot.add_cog(Review(bot))
