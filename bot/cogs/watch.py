"""`/watch` (admins) and the watched-channel listener: every posted picture is looked at, and the bot
speaks only when it recognises someone, so channels stay quiet."""

from __future__ import annotations

import logging
from typing import Literal

import discord
from discord import app_commands
from discord.ext import commands

from recognition import Busy
from recognition.errors import KaobotError
from recognition.service import Identification

from ..client import Kaobot
from ..errors import NotAllowed, OnCooldown
from ..guards import guild_scope, require_admin
from ..replies import identifications_reply
from ..review_views import AnsweredPicture, answered, correction_view
from ..sources import message_sources

log = logging.getLogger(__name__)


class Watch(commands.Cog):
    """Watched channels."""

    def __init__(self, bot: Kaobot) -> None:
        self.bot = bot
        self.services = bot.services

    @property
    def threshold(self) -> float:
        """Similarity a face needs before the bot speaks in a watched channel."""
        configured = self.services.settings.bot.watch_threshold
        return self.services.recognizer.threshold if configured is None else configured

    @app_commands.command(name="watch", description="Look at every picture posted in a channel (admins)")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.describe(channel="The channel", state="on: answer pictures with known characters; off: stop")
    async def watch(
        self, interaction: discord.Interaction, channel: discord.TextChannel, state: Literal["on", "off"]
    ) -> None:
        scope = guild_scope(interaction)
        require_admin(interaction, self.services.settings)
        if channel.guild.id != interaction.guild_id:
            raise NotAllowed("That channel belongs to another server.")
        if state == "on" and not self.services.settings.bot.message_content:
            raise NotAllowed(
                "Watching channels is switched off for this bot (it runs without the message content intent)."
            )
        await self.services.watchlist.set(int(scope), channel.id, state == "on")
        log.info("guild %s: user %s turned watching %s in channel %s", scope, interaction.user.id, state, channel.id)
        if state == "on":
            text = (
                f"Watching {channel.mention}: I'll reply to pictures in which I recognise a character "
                f"(similarity at least {self.threshold:.2f}) and stay quiet otherwise."
            )
        else:
            text = f"No longer watching {channel.mention}."
        await interaction.response.send_message(text, ephemeral=True)

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        services = self.services
        if message.author.bot or message.guild is None or not services.watchlist.is_watched(message.channel.id):
            return
        try:
            sources = message_sources(message, services.max_download, services.settings.bot.max_images)
        except KaobotError:
            return  # no usable picture: stay quiet
        try:
            services.limits.hit_server(message.guild.id)  # watched channels count toward the server's limit
        except OnCooldown:
            log.info("server rate limit: skipped pictures in watched channel %s", message.channel.id)
            return
        scope = str(message.guild.id)
        found: list[tuple[str, Identification | str]] = []
        pictures: list[AnsweredPicture] = []
        hidden = any(source.spoiler for source in sources)
        for number, source in enumerate(sources, start=1):
            try:
                async with services.queue.slot():
                    data = await services.fetcher.fetch(source.url)
                    result = await services.recognizer.identify(data, scope)
            except Busy:
                log.info("busy: skipped pictures in watched channel %s", message.channel.id)
                return
            except KaobotError as exc:
                log.info("watched channel %s: skipped a picture: %s", message.channel.id, exc)
                continue
            if any(f.name is not None and f.similarity >= self.threshold for f in result.faces):
                title = "Who is this?" if len(sources) == 1 else f"Picture {number}"
                found.append((title, result))
                if services.review is not None:
                    pictures.append(await answered(services.review, title, result, scope))
            elif services.review is not None and services.review.keeps_unknowns(scope):
                await services.review.note_unknowns(scope, await services.review.evidence(result))
        if found:
            reply = identifications_reply(found, limit=message.guild.filesize_limit, hidden=hidden)
            view = correction_view(services.review, scope, pictures, link=message.jump_url)
            extra = {} if view is None else {"view": view}
            sent = await message.reply(**reply.send_kwargs(), mention_author=False, **extra)
            if view is not None:
                view.message = sent


async def setup(bot: Kaobot) -> None:
    await bot.add_cog(Watch(bot))
