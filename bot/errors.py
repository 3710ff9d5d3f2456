"""The bot's error layer.

Domain errors (`KaobotError` and the bot's own below) become one polite, ephemeral line for the
user; anything else is logged with its traceback and still answered. `answer_error` is called by
the command tree's `on_error` and by the views' `on_error`, so every failure takes the same path.
"""

from __future__ import annotations

import logging
import math

import discord
from discord import app_commands

from recognition import Busy as WorkerBusy
from recognition.errors import (
    BackendUnavailable,
    BadImage,
    ConfigError,
    GalleryUnavailable,
    KaobotError,
    ModelFileError,
)

log = logging.getLogger(__name__)

UNEXPECTED = "Something went wrong on my side. It has been logged; please try again later."


class NotInGuild(KaobotError):
    """kaobot works in servers only: each server has its own characters."""

    def __init__(self) -> None:
        super().__init__("kaobot works in servers only: each server has its own characters.")


class NotAllowed(KaobotError):
    """The user lacks the rights a command needs."""


BUSY = "I'm busy with other pictures right now; please try again shortly."


def busy_message(retry_after: float | None) -> str:
    """ "busy" with when to try again (`retry_after` seconds, rounded up to a whole second)."""
    if retry_after is None:
        return BUSY
    return f"I'm busy with other pictures right now; please try again in {wait_text(retry_after)}."


def wait_text(seconds: float) -> str:
    """`4.2` → `5 s`, `75` → `2 min`: a wait a person can act on, never 0."""
    seconds = max(1, math.ceil(seconds))
    return f"{seconds} s" if seconds < 90 else f"{math.ceil(seconds / 60)} min"


class Busy(WorkerBusy):
    """The bot's work queue is full (the inference worker's own `Busy` reads the same to users)."""

    def __init__(self, retry_after: float | None = None) -> None:
        super().__init__(busy_message(retry_after), retry_after)


class OnCooldown(KaobotError):
    """The user asked too often."""

    def __init__(self, retry_after: float, message: str | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(message or f"Slow down a little: try again in {wait_text(retry_after)}.")


class ServerOnCooldown(OnCooldown):
    """The whole server asked too often (`bot.server_uses` per `bot.server_seconds`)."""

    def __init__(self, retry_after: float) -> None:
        text = f"Everyone here has asked me a lot just now: this server can try again in {wait_text(retry_after)}."
        super().__init__(retry_after, text)


class BadAttachment(KaobotError):
    """An attachment refused before download (type, size) or a message without pictures."""


class DownloadFailed(KaobotError):
    """A picture could not be fetched from Discord (refused URL, too large, timeout, HTTP error)."""


class StateUnavailable(KaobotError):
    """The bot's own state file (watched channels) cannot be read or written."""


class BadName(KaobotError):
    """A character name that cannot be stored."""


def user_message(error: BaseException) -> str:
    """The line shown to the user for an expected error."""
    if isinstance(error, BadImage):
        # Keep the decoder's first clause ("the image is corrupt or truncated"), not the library detail.
        reason = str(error).split(": ", 1)[0]
        return as_sentence(f"I couldn't use that picture: {reason}")
    if isinstance(error, GalleryUnavailable):
        return "The character gallery is not available right now; please try again in a minute."
    if isinstance(error, WorkerBusy):
        return busy_message(error.retry_after)
    if isinstance(error, StateUnavailable):
        return "I couldn't save that setting right now; please try again in a minute."
    if isinstance(error, (ModelFileError, BackendUnavailable, ConfigError)):
        return "kaobot is not set up correctly; the owner has been told."
    if type(error).__module__ == __name__:  # the bot's own errors are written as sentences
        return str(error)
    return as_sentence(str(error))  # the core's ("no face was found in the picture")


def as_sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return UNEXPECTED
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?" else text + "."


def unwrap(error: BaseException) -> BaseException:
    """The original exception behind discord.py's `CommandInvokeError` wrapper."""
    while isinstance(error, app_commands.CommandInvokeError):
        error = error.original
    return error


async def answer_error(interaction: discord.Interaction, error: BaseException) -> None:
    """Log as needed and answer the user once, ephemerally."""
    error = unwrap(error)
    where = interaction.command.qualified_name if interaction.command else "a component"
    if isinstance(error, (ModelFileError, BackendUnavailable, ConfigError, GalleryUnavailable, StateUnavailable)):
        log.error("%s failed in guild %s: %s", where, interaction.guild_id, error)
        text = user_message(error)
    elif isinstance(error, KaobotError):
        log.info("%s refused for user %s: %s", where, interaction.user.id, error)
        text = user_message(error)
    elif isinstance(error, app_commands.CheckFailure):
        text = "You can't use this command here."
    else:
        log.error("unexpected error in %s", where, exc_info=error)
        text = UNEXPECTED
    await send_ephemeral(interaction, text)


async def send_ephemeral(interaction: discord.Interaction, text: str) -> None:
    """Answer ephemerally whether or not the interaction was already deferred."""
    try:
        if not interaction.response.is_done():
            await interaction.response.send_message(text, ephemeral=True)
            return
        # After a public `defer(thinking=True)` the first follow-up inherits the public flag:
        # remove the "thinking…" message so the error can be private.
        try:
            await interaction.delete_original_response()
        except discord.HTTPException:
            pass
        await interaction.followup.send(text, ephemeral=True)
    except discord.HTTPException:
        log.warning("could not send an error reply to user %s", interaction.user.id, exc_info=True)
