"""Checks every command makes before any work: where, who, what name."""

from __future__ import annotations

import discord

from recognition import Settings
from recognition.gallery import clean_name

from .errors import BadName, NotAllowed, NotInGuild, as_sentence


def guild_scope(interaction: discord.Interaction) -> str:
    """The gallery scope of an interaction: its guild id. DMs are refused (see docs/bot.md)."""
    if interaction.guild_id is None:
        raise NotInGuild()
    return str(interaction.guild_id)


def require_admin(interaction: discord.Interaction, settings: Settings) -> None:
    """Manage Server (or Administrator), or the configured admin role; enforced here, whatever
    permissions a server gave the command in its integration settings."""
    perms = interaction.permissions
    if perms.manage_guild or perms.administrator:
        return
    role = settings.bot.admin_role
    if role is not None and any(r.id == role for r in getattr(interaction.user, "roles", ())):
        return
    raise NotAllowed("Only members with the Manage Server permission (or the kaobot admin role) can do that.")


def valid_name(name: str) -> str:
    """A character name as the gallery stores it, or `BadName`."""
    try:
        return clean_name(name)
    except ValueError as exc:
        raise BadName(as_sentence(str(exc))) from None
