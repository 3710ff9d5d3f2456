"""`@kaobot sync [global|here|<guild id>]`: the owner syncs the command tree (never done on start).

A mention prefix works without the message content intent, so syncing never needs it.
"""

from __future__ import annotations

import logging

from discord.ext import commands

from ..client import Kaobot, sync_tree

log = logging.getLogger(__name__)


class Owner(commands.Cog):
    """Owner-only maintenance."""

    def __init__(self, bot: Kaobot) -> None:
        self.bot = bot

    @commands.command(name="sync")
    @commands.is_owner()
    async def sync(self, ctx: commands.Context, target: str = "global") -> None:
        """Sync globally (up to an hour to show everywhere), to this server (`here`) or to a guild id."""
        if target == "here":
            if ctx.guild is None:
                await ctx.reply("`here` only works in a server.")
                return
            target = str(ctx.guild.id)
        elif target != "global" and not target.isdigit():
            await ctx.reply("Use `sync`, `sync here` or `sync <guild id>`.")
            return
        count = await sync_tree(self.bot, target)
        log.info("owner %s synced %d command(s) to %s", ctx.author.id, count, target)
        await ctx.reply(f"Synced {count} command(s) to {'every server' if target == 'global' else target}.")

    async def cog_command_error(self, ctx: commands.Context, error: commands.CommandError) -> None:
        if isinstance(error, commands.NotOwner):
            log.info("user %s tried an owner command", ctx.author.id)
            return
        log.error("owner command %s failed", ctx.command, exc_info=error)
        await ctx.reply("That failed; see the log.")


async def setup(bot: Kaobot) -> None:
    await bot.add_cog(Owner(bot))
