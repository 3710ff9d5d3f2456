"""`/whois` and the "Who is this?" message context menu."""

from __future__ import annotations

import logging

import discord
from discord import app_commands
from discord.ext import commands

from recognition.errors import BadImage
from recognition.service import Identification

from ..client import Kaobot
from ..errors import DownloadFailed, user_message
from ..guards import guild_scope
from ..replies import identification_reply, identifications_reply
from ..review_views import AnsweredPicture, CorrectionView, answered, correction_view
from ..sources import attachment_source, message_sources

log = logging.getLogger(__name__)


class Whois(commands.Cog):
    """Name the characters in a picture."""

    def __init__(self, bot: Kaobot) -> None:
        self.bot = bot
        self.services = bot.services
        # Context menus cannot live inside a cog class: build it here, add it in cog_load.
        self.menu = app_commands.guild_only(app_commands.ContextMenu(name="Who is this?", callback=self.who_is_this))

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self.menu)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.menu.name, type=self.menu.type)

    @app_commands.command(name="whois", description="Name the anime characters in a picture")
    @app_commands.guild_only()
    @app_commands.describe(
        image="A picture with anime faces (a spoiler picture gets a spoilered answer)",
        top_k="Also list up to this many candidates per face",
        private="Answer only to you",
    )
    async def whois(
        self,
        interaction: discord.Interaction,
        image: discord.Attachment,
        top_k: app_commands.Range[int, 1, 10] | None = None,
        private: bool = False,
    ) -> None:
        services = self.services
        scope = guild_scope(interaction)
        source = attachment_source(image, services.max_download)
        services.limits.hit(interaction.user.id, interaction.guild_id)
        async with services.queue.slot():
            await interaction.response.defer(thinking=True, ephemeral=private)
            data = await services.fetcher.fetch(source.url)
            result = await services.recognizer.identify(data, scope, top_k)
        reply = identification_reply(
            result, limit=interaction.filesize_limit, candidates=top_k is not None, hidden=source.spoiler
        )
        pictures = [await answered(services.review, "Who is this?", result, scope)] if services.review else []
        await send_answer(interaction, reply, correction_view(services.review, scope, pictures), ephemeral=private)

    async def who_is_this(self, interaction: discord.Interaction, message: discord.Message) -> None:
        """The context menu: the message's first few image attachments and embedded images."""
        services = self.services
        scope = guild_scope(interaction)
        sources = message_sources(message, services.max_download, services.settings.bot.max_images)
        services.limits.hit(interaction.user.id, interaction.guild_id)
        results: list[tuple[str, Identification | str]] = []
        failures: list[Exception] = []
        pictures: list[AnsweredPicture] = []
        async with services.queue.slot():
            await interaction.response.defer(thinking=True)
            for number, source in enumerate(sources, start=1):
                title = "Who is this?" if len(sources) == 1 else f"Picture {number}"
                try:
                    data = await services.fetcher.fetch(source.url)
                    result = await services.recognizer.identify(data, scope)
                    results.append((title, result))
                    if services.review is not None:
                        pictures.append(await answered(services.review, title, result, scope))
                except (BadImage, DownloadFailed) as exc:
                    failures.append(exc)
                    results.append((title, user_message(exc)))
        if len(failures) == len(sources):
            raise failures[0]
        hidden = any(source.spoiler for source in sources)
        reply = identifications_reply(results, limit=interaction.filesize_limit, hidden=hidden)
        view = correction_view(services.review, scope, pictures, link=getattr(message, "jump_url", None))
        await send_answer(interaction, reply, view)


async def send_answer(
    interaction: discord.Interaction, reply, view: CorrectionView | None, ephemeral: bool = False
) -> None:
    """The answer, with the "Correct a name" button when there is one (it goes away after a while)."""
    if view is None:
        await interaction.followup.send(**reply.send_kwargs(), ephemeral=ephemeral)
        return
    view.message = await interaction.followup.send(**reply.send_kwargs(), view=view, wait=True, ephemeral=ephemeral)


async def setup(bot: Kaobot) -> None:
    await bot.add_cog(Whois(bot))
