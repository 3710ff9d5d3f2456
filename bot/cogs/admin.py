"""`/forget`, `/rename` (admins) and `/characters` (everyone, paginated)."""

from __future__ import annotations

import logging

import discord
from discord import app_commands
from discord.ext import commands

from ..client import Kaobot
from ..guards import guild_scope, require_admin, valid_name
from ..replies import character_pages
from ..views import Pager

log = logging.getLogger(__name__)


class Admin(commands.Cog):
    """Manage the characters of a server."""

    def __init__(self, bot: Kaobot) -> None:
        self.bot = bot
        self.services = bot.services

    @app_commands.command(name="forget", description="Delete a character and all its faces (admins)")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.describe(name="The character's name")
    async def forget(self, interaction: discord.Interaction, name: app_commands.Range[str, 1, 100]) -> None:
        scope = guild_scope(interaction)
        require_admin(interaction, self.services.settings)
        name = valid_name(name)
        await interaction.response.defer(thinking=True, ephemeral=True)
        removed = await self.services.recognizer.forget(name, scope)
        log.info("guild %s: user %s forgot %r", scope, interaction.user.id, name)
        await interaction.followup.send(
            f"Forgot **{discord.utils.escape_markdown(name)}** ({removed} face(s) deleted).", ephemeral=True
        )

    @app_commands.command(name="rename", description="Rename a character (admins)")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.describe(old="The current name", new="The new name (an existing character is merged into)")
    async def rename(
        self,
        interaction: discord.Interaction,
        old: app_commands.Range[str, 1, 100],
        new: app_commands.Range[str, 1, 100],
    ) -> None:
        scope = guild_scope(interaction)
        require_admin(interaction, self.services.settings)
        old, new = valid_name(old), valid_name(new)
        await interaction.response.defer(thinking=True, ephemeral=True)
        moved = await self.services.recognizer.rename(old, new, scope)
        log.info("guild %s: user %s renamed %r to %r", scope, interaction.user.id, old, new)
        esc = discord.utils.escape_markdown
        await interaction.followup.send(f"Renamed **{esc(old)}** to **{esc(new)}** ({moved} face(s)).", ephemeral=True)

    @app_commands.command(name="characters", description="List the characters kaobot knows in this server")
    @app_commands.guild_only()
    async def characters(self, interaction: discord.Interaction) -> None:
        scope = guild_scope(interaction)
        await interaction.response.defer(thinking=True)
        pages = character_pages(await self.services.recognizer.characters(scope))
        if len(pages) == 1:
            await interaction.followup.send(embed=pages[0])
        else:
            await interaction.followup.send(embed=pages[0], view=Pager(interaction.user.id, pages))


async def setup(bot: Kaobot) -> None:
    await bot.add_cog(Admin(bot))
