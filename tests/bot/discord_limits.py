"""Discord's documented message limits, checked independently of the bot's own code.

A message over any of them is refused by Discord with HTTP 400, so the user would get no answer.
(https://discord.com/developers/docs/resources/message#embed-object-embed-limits)
"""

from __future__ import annotations

from typing import Any

import discord

CONTENT = 2000
EMBEDS = 10
FILES = 10
TITLE = 256
DESCRIPTION = 4096
FOOTER = 2048
EMBED_TOTAL = 6000  # all titles, descriptions, footers (and fields) of one message together


def embed_chars(embed: discord.Embed) -> int:
    return len(embed.title or "") + len(embed.description or "") + len(embed.footer.text or "")


def problems(kwargs: dict[str, Any]) -> list[str]:
    """What Discord would refuse in a `send(**kwargs)` (empty: nothing)."""
    found = []
    content = kwargs.get("content") or ""
    if len(content) > CONTENT:
        found.append(f"content has {len(content)} characters")
    embeds = list(kwargs.get("embeds") or []) + ([kwargs["embed"]] if kwargs.get("embed") else [])
    if len(embeds) > EMBEDS:
        found.append(f"{len(embeds)} embeds")
    if len(kwargs.get("files") or []) > FILES:
        found.append(f"{len(kwargs['files'])} files")
    for e in embeds:
        if len(e.title or "") > TITLE:
            found.append(f"title has {len(e.title)} characters")
        if len(e.description or "") > DESCRIPTION:
            found.append(f"description has {len(e.description)} characters")
        if len(e.footer.text or "") > FOOTER:
            found.append(f"footer has {len(e.footer.text)} characters")
    total = sum(embed_chars(e) for e in embeds)
    if total > EMBED_TOTAL:
        found.append(f"embeds total {total} characters")
    return found
