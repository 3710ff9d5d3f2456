"""The bot class: receives every resource from the composition root (`bot.runner`), creates none."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import discord
from discord import app_commands
from discord.ext import commands

from recognition import Recognizer, Settings
from recognition.review.service import ReviewDesk

from .errors import answer_error
from .fetch import ImageFetcher
from .limits import RateLimits, WorkQueue
from .watchlist import WatchList

log = logging.getLogger(__name__)

EXTENSIONS = (
    "bot.cogs.whois",
    "bot.cogs.enroll",
    "bot.cogs.admin",
    "bot.cogs.watch",
    "bot.cogs.review",
    "bot.cogs.owner",
)


@dataclass
class Services:
    """What the cogs use; built and closed by the composition root."""

    settings: Settings
    recognizer: Recognizer
    fetcher: ImageFetcher
    watchlist: WatchList
    queue: WorkQueue
    limits: RateLimits  # /whois and "Who is this?" per member and per server
    review: ReviewDesk | None = None  # members' corrections (None: no "Correct a name", no /review)

    @property
    def max_download(self) -> int:
        return self.settings.limits.max_bytes


class KaobotTree(app_commands.CommandTree):
    """Every failed command ends here: one answer to the user, a traceback in the log if unexpected."""

    async def on_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        await answer_error(interaction, error)


class Kaobot(commands.Bot):
    """kaobot on Discord. `sync` ("global" or a guild id) syncs the command tree once after login."""

    def __init__(self, services: Services, *, sync: str | None = None) -> None:
        intents = discord.Intents.default()  # guilds, guild messages (without their content), …
        intents.message_content = services.settings.bot.message_content  # watched channels only
        super().__init__(
            command_prefix=commands.when_mentioned,  # `@kaobot sync`: mentions carry content without the intent
            intents=intents,
            tree_cls=KaobotTree,
            help_command=None,
            allowed_mentions=discord.AllowedMentions.none(),
        )  # the owner (for `sync`) comes from the application's info at login
        self.services = services
        self.sync_target = sync

    async def setup_hook(self) -> None:
        for name in EXTENSIONS:
            try:
                await self.load_extension(name)
            except Exception:  # one broken cog must not stop the others
                log.exception("could not load extension %s", name)
        if self.sync_target:
            synced = await sync_tree(self, self.sync_target)
            log.info("synced %d command(s) to %s", synced, self.sync_target)

    async def on_ready(self) -> None:
        log.info("logged in as %s (%s) in %d guild(s)", self.user, getattr(self.user, "id", "?"), len(self.guilds))


async def sync_tree(bot: commands.Bot, target: str) -> int:
    """Sync the command tree globally (`global`) or to one guild (its id, instant: for testing)."""
    if target == "global":
        return len(await bot.tree.sync())
    guild = discord.Object(id=int(target))
    bot.tree.copy_global_to(guild=guild)
    return len(await bot.tree.sync(guild=guild))
