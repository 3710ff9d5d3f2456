"""Which pictures of an interaction or message kaobot looks at, checked before any download."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

import discord

from .errors import BadAttachment
from .fetch import human_size

IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/webp", "image/gif", "image/bmp"})
IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp"})
NO_PICTURE = "That message has no picture I can look at."


@dataclass(frozen=True)
class ImageSource:
    """A picture to download: its Discord URL and a label for replies."""

    url: str
    label: str
    spoiler: bool = False  # posted as a spoiler (file name SPOILER_…): the answer is hidden too


def is_image(attachment: discord.Attachment) -> bool:
    """Whether Discord says the attachment is a picture kaobot decodes (by type, else by name)."""
    if attachment.content_type:
        return attachment.content_type.split(";", 1)[0].strip().lower() in IMAGE_TYPES
    return PurePosixPath(attachment.filename).suffix.lower() in IMAGE_EXTENSIONS


def attachment_source(attachment: discord.Attachment, max_bytes: int) -> ImageSource:
    """The attachment as a source, or `BadAttachment` saying why it is refused."""
    name = discord.utils.escape_markdown(attachment.filename)
    if not is_image(attachment):
        raise BadAttachment(f"{name} is not a picture: please attach a PNG, JPEG, WebP, GIF or BMP image.")
    if attachment.size > max_bytes:
        raise BadAttachment(
            f"{name} is too large ({human_size(attachment.size)}); the limit is {human_size(max_bytes)}."
        )
    return ImageSource(attachment.url, attachment.filename, attachment.is_spoiler())


def message_sources(message: discord.Message, max_bytes: int, limit: int) -> list[ImageSource]:
    """The first `limit` pictures of a message: image attachments, then embedded images through
    Discord's media proxy (`proxy_url`, never the linked host). Raises `BadAttachment` when none."""
    sources: list[ImageSource] = []
    refused: list[BadAttachment] = []
    for attachment in message.attachments:
        try:
            sources.append(attachment_source(attachment, max_bytes))
        except BadAttachment as exc:
            refused.append(exc)
    for embed in message.embeds:
        for media in (embed.image, embed.thumbnail):
            proxy_url = getattr(media, "proxy_url", None)
            if proxy_url:
                sources.append(ImageSource(proxy_url, "embedded image"))
                break
    if not sources:
        raise refused[0] if refused else BadAttachment(NO_PICTURE)
    return sources[:limit]
