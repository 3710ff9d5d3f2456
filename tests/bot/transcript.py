"""Renders what the bot sent (as captured by the fakes) into Markdown for the README."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import discord

from bot.replies import ENROLLED_CROP

from .support import Sent, picture_size


@dataclass
class Transcript:
    """Headed groups of sent messages; pictures are written next to the README when asked."""

    picture_dir: Path
    picture_prefix: str
    link_dir: str | None = None  # how the document links to picture_dir; None: picture_dir's name
    sections: list[str] = field(default_factory=list)
    pictures: dict[str, bytes] = field(default_factory=dict)

    def add(self, heading: str, sent: list[Sent], note: str | None = None, show_picture: str | None = None) -> None:
        lines = [f"#### {heading}", ""]
        if note:
            lines += [f"*{note}*", ""]
        if not sent:
            lines += ["(no reply)", ""]
        for message in sent:
            lines += self._message(message, show_picture)
            show_picture = None  # at most one picture per heading
        self.sections.append("\n".join(lines))

    def _message(self, message: Sent, show_picture: str | None) -> list[str]:
        who = "only the user sees this" if message.ephemeral else "everyone in the channel sees this"
        if message.via == "reply":
            who = "a reply to the posted message, everyone sees it"
        out = []
        content = message.kwargs.get("content") or (message.kwargs.get("args") or [None])[0]
        if content:
            out.append(f"> {content}  ")
        embeds = list(message.kwargs.get("embeds") or []) + (
            [message.kwargs["embed"]] if message.kwargs.get("embed") else []
        )
        for embed in embeds:
            out += self._embed(embed)
        for file in message.files:
            width, height = picture_size(file)
            what = "the face that was stored" if file.filename == ENROLLED_CROP else "the picture with numbered boxes"
            out.append(f"> 🖼 `{file.filename}` — {what}, {width}×{height}  ")
            if show_picture:
                file.fp.seek(0)
                name = f"{self.picture_prefix}{show_picture}.png"
                self.pictures[name] = file.fp.read()
                file.fp.seek(0)
                out += [">", f"> ![{show_picture}]({self.picture_dir.name if self.link_dir is None else self.link_dir}/{name})  "]
                show_picture = None
        view = message.view
        if view is not None and view.children:
            buttons = " ".join(f"`[{item.label}]`" for item in view.children if isinstance(item, discord.ui.Button))
            out.append(f"> {buttons}  ")
        out += [f"> <sub>{who}</sub>", ""]
        return out

    @staticmethod
    def _embed(embed: discord.Embed) -> list[str]:
        out = []
        if embed.title:
            out.append(f"> **{embed.title}**  ")
        for line in (embed.description or "").splitlines():
            out.append(f"> {line}  ")
        if embed.footer.text:
            out.append(f"> <sub>{embed.footer.text}</sub>  ")
        return out

    def markdown(self, display: dict[str, str] | None = None) -> str:
        """The whole transcript; `display` replaces raw mentions by what Discord shows (`<#id>` → `#art`)."""
        text = "\n".join(self.sections).rstrip() + "\n"
        for raw, shown in (display or {}).items():
            text = text.replace(raw, shown)
        return text
