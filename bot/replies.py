"""What the bot sends: embeds for each answer and the annotated picture, sized to the upload limit."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import discord
import numpy as np

from recognition.annotate import draw_numbered_boxes
from recognition.gallery import CharacterInfo
from recognition.images import encode_jpeg, encode_png
from recognition.service import CROP_SIZE as CROP_SIDE
from recognition.service import Enrollment, FaceResult, Identification

KNOWN_COLOUR = discord.Colour(0x2ECC71)
UNKNOWN_COLOUR = discord.Colour(0xF1C40F)
NEUTRAL_COLOUR = discord.Colour(0x5865F2)
LEGEND = "Faces are numbered left to right · green box: recognised · amber box: unknown"
PER_PAGE = 15
# Discord refuses a message over these (HTTP 400): one embed's description, all embeds of a message.
DESCRIPTION_LIMIT = 4096
EMBED_TOTAL_LIMIT = 6000
SERIES_SHOWN = 100  # characters of a series shown in a reply
LINK_SHOWN = 300  # longer links are left out of replies


@dataclass(frozen=True)
class Picture:
    """An encoded picture ready to upload."""

    filename: str
    data: bytes
    width: int
    height: int

    def file(self) -> discord.File:
        return discord.File(io.BytesIO(self.data), filename=self.filename)


@dataclass
class Reply:
    """One message: text, embeds and pictures (each `send` gets fresh `discord.File`s)."""

    content: str | None = None
    embeds: list[discord.Embed] = field(default_factory=list)
    pictures: list[Picture] = field(default_factory=list)

    def send_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"embeds": self.embeds, "files": [p.file() for p in self.pictures]}
        if self.content:
            kwargs["content"] = self.content
        return kwargs


def fit_picture(image: np.ndarray, limit: int, stem: str = "kaobot") -> Picture | None:
    """PNG or JPEG (whichever fits; PNG first), downscaled until it fits `limit` bytes; `None` if it never does."""
    for _ in range(10):
        height, width = image.shape[:2]
        smallest = None
        for suffix, encode in (("png", encode_png), ("jpg", lambda img: encode_jpeg(img, quality=85))):
            data = encode(image)
            if len(data) <= limit:
                return Picture(f"{stem}.{suffix}", data, width, height)
            smallest = len(data) if smallest is None else min(smallest, len(data))
        scale = min(0.9, 0.95 * (limit / smallest) ** 0.5)
        if min(width, height) * scale < 16:
            break
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return None


def clip(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, ending in "…" when cut (never in a lone backslash,
    which would escape the ellipsis)."""
    if len(text) <= limit:
        return text
    return text[: max(0, limit - 1)].rstrip("\\") + "…"


def fit_lines(lines: Sequence[str], budget: int) -> str:
    """The lines joined within `budget` characters; the ones left out are counted in a last line."""
    lines = [clip(line, budget - 30) for line in lines]  # room for the count line
    text = "\n".join(lines)
    if len(text) <= budget:
        return text
    for keep in range(len(lines) - 1, 0, -1):
        text = "\n".join([*lines[:keep], f"… and {len(lines) - keep} more not shown"])
        if len(text) <= budget:
            return text
    return clip(f"… {len(lines)} not shown", budget)


def _series(series: str) -> str:
    return f" · *{discord.utils.escape_markdown(clip(series, SERIES_SHOWN))}*"


def _name(face: FaceResult) -> str:
    match = face.match
    text = f"**{discord.utils.escape_markdown(face.name or '')}** ({face.similarity:.2f})"
    if match is not None and match.series:
        text += _series(match.series)
    if match is not None and match.link and len(match.link) <= LINK_SHOWN:
        text += f" · <{match.link}>"
    return text


def spoiler(text: str, hidden: bool = True) -> str:
    """`||text||` (Discord hides it until clicked) when `hidden`; `|` in the text is escaped first."""
    return f"||{text}||" if hidden else text


def face_line(face: FaceResult, candidates: bool, hidden: bool = False) -> str:
    """`**1** · **Alice** (0.98)` or `**2** · unknown`, with candidates when asked; names in
    `||…||` when `hidden` (the picture was a spoiler)."""
    line = f"**{face.number}** · " + (spoiler(_name(face), hidden) if face.name is not None else "unknown")
    if candidates and face.candidates:
        listed = ", ".join(f"{discord.utils.escape_markdown(c.name)} {c.similarity:.2f}" for c in face.candidates)
        line += f"\n  candidates: {spoiler(listed, hidden)}"
    return line


SPOILER_NOTE = "The picture was a spoiler: names and the numbered picture are hidden until clicked."


def identification_reply(
    result: Identification,
    *,
    limit: int,
    candidates: bool = False,
    title: str = "Who is this?",
    hidden: bool = False,
) -> Reply:
    """The answer to `/whois`, "Who is this?" and watched channels: one embed and the numbered picture.
    `hidden` (the picture was posted as a spoiler): names in `||…||`, the picture a spoiler attachment."""
    return _identification_parts([(title, result)], limit=limit, candidates=candidates, hidden=hidden)


def identifications_reply(
    results: Sequence[tuple[str, Identification | str]], *, limit: int, candidates: bool = False, hidden: bool = False
) -> Reply:
    """Several pictures in one message (up to 10 embeds); a `str` result is a per-picture failure."""
    return _identification_parts(results, limit=limit, candidates=candidates, hidden=hidden)


def _identification_parts(
    results: Sequence[tuple[str, Identification | str]], *, limit: int, candidates: bool, hidden: bool = False
) -> Reply:
    reply = Reply()
    results = results[:10]
    with_faces = sum(1 for _, r in results if isinstance(r, Identification) and r.faces)
    share = limit // max(1, with_faces)  # the upload limit is shared by the files of one message
    # Discord's text limits are shared too: each embed gets an equal part of what titles and legends leave.
    fixed = sum(len(title) + len(LEGEND) for title, _ in results)
    budget = min(DESCRIPTION_LIMIT, (EMBED_TOTAL_LIMIT - fixed) // max(1, len(results)))
    for index, (title, result) in enumerate(results, start=1):
        embed = discord.Embed(title=title)
        if isinstance(result, str):
            embed.description = clip(result, budget)
            embed.colour = UNKNOWN_COLOUR
        elif not result.faces:
            embed.description = "I found no face in this picture."
            embed.colour = UNKNOWN_COLOUR
        else:
            embed.description = fit_lines([face_line(f, candidates, hidden) for f in result.faces], budget)
            embed.colour = KNOWN_COLOUR if any(f.name is not None for f in result.faces) else UNKNOWN_COLOUR
            embed.set_footer(text=LEGEND)
            # Discord shows a spoiler only as a plain attachment named SPOILER_…: an embed's image is
            # never blurred, so a hidden picture goes below the embeds instead.
            stem = f"SPOILER_kaobot-{index}" if hidden else f"kaobot-{index}"
            picture = fit_picture(result.annotated(), share, stem=stem)
            if picture is not None:
                if not hidden:
                    embed.set_image(url=f"attachment://{picture.filename}")
                reply.pictures.append(picture)
        reply.embeds.append(embed)
    if hidden:
        reply.content = SPOILER_NOTE
    return reply


def picker_reply(image: np.ndarray, boxes: Sequence[tuple[int, int, int, int]], name: str, *, limit: int) -> Reply:
    """Numbered faces (amber) for an admin to choose the one to enrol."""
    embed = discord.Embed(
        title=f"Which face is {discord.utils.escape_markdown(name)}?",
        description=(
            f"I found {len(boxes)} faces. Press the number of the face to enrol, "
            "or run `/enroll` again with the `face` option."
        ),
        colour=NEUTRAL_COLOUR,
    )
    reply = Reply(embeds=[embed])
    picture = fit_picture(draw_numbered_boxes(image, boxes, [False] * len(boxes)), limit)
    if picture is not None:
        embed.set_image(url=f"attachment://{picture.filename}")
        reply.pictures.append(picture)
    return reply


ENROLLED_CROP = "enrolled-face.jpg"


def enrolled_reply(enrollment: Enrollment, total_faces: int) -> Reply:
    """The stored face is shown (its crop, as a thumbnail), so a wrong pick is seen at once."""
    name = discord.utils.escape_markdown(enrollment.name)
    embed = discord.Embed(
        title="Enrolled",
        description=(
            f"Face {enrollment.face_number} of {enrollment.faces_in_picture} is now **{name}** "
            f"({total_faces} face(s) stored for this character)."
        ),
        colour=KNOWN_COLOUR,
    )
    reply = Reply(embeds=[embed])
    if enrollment.crop:
        embed.add_field(
            name="Stored face",
            value="The picture here. If it is the wrong face, `/forget` the character and enrol again with "
            "the `face` option.",
        )
        reply.pictures.append(Picture(ENROLLED_CROP, enrollment.crop, CROP_SIDE, CROP_SIDE))
        embed.set_thumbnail(url=f"attachment://{ENROLLED_CROP}")
    return reply


def character_pages(characters: Sequence[CharacterInfo], per_page: int = PER_PAGE) -> list[discord.Embed]:
    """`/characters`: one embed per page, names with their face counts."""
    if not characters:
        return [
            discord.Embed(
                title="Characters",
                description="No characters are enrolled in this server yet. Admins can teach me with `/enroll`.",
                colour=NEUTRAL_COLOUR,
            )
        ]
    total = len(characters)
    pages: list[list[str]] = [[]]
    for c in characters:  # at most `per_page` names, and never more text than one embed holds
        line = f"**{discord.utils.escape_markdown(c.name)}** · {c.faces} face{'s' if c.faces != 1 else ''}"
        if c.series:
            line += _series(c.series)
        page = pages[-1]
        if page and (len(page) >= per_page or sum(len(x) + 1 for x in page) + len(line) > DESCRIPTION_LIMIT):
            pages.append(page := [])
        page.append(line)
    embeds = []
    for number, lines in enumerate(pages, start=1):
        embed = discord.Embed(title=f"Characters ({total})", description="\n".join(lines), colour=NEUTRAL_COLOUR)
        embed.set_footer(text=f"Page {number} of {len(pages)}")
        embeds.append(embed)
    return embeds
