"""Test support for the bot: a local stand-in for Discord's CDN, fakes built on real discord.py
types, and a helper that runs app commands the way discord.py's `CommandTree` does.

Only Discord itself (gateway, HTTP API, CDN) is replaced; every kaobot part is real.
"""

from __future__ import annotations

import asyncio
import io
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any
from unittest.mock import AsyncMock, MagicMock

import discord
from aiohttp import web
from aiohttp.test_utils import TestServer
from discord import app_commands
from PIL import Image

GUILD_A = 111111111111111111
GUILD_B = 222222222222222222
CHANNEL = 333333333333333333
ADMIN = 444444444444444444
MEMBER = 555555555555555555
ADMIN_ROLE = 666666666666666666
UPLOAD_LIMIT = 10 * 1024 * 1024

_ids = itertools.count(900000000000000000)


class FakeCDN:
    """A local HTTP server standing in for cdn.discordapp.com and the media proxy."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.hits: list[tuple[str, str]] = []  # (host header, path)
        app = web.Application()
        app.router.add_get("/attachments/{name}", self._file)
        app.router.add_get("/redirect/{where}/{name}", self._redirect)
        app.router.add_get("/endless", self._endless)
        app.router.add_get("/trickle", self._trickle)
        app.router.add_get("/status/{code}", self._status)
        self.server = TestServer(app, host="127.0.0.1")

    async def __aenter__(self) -> FakeCDN:
        await self.server.start_server()
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.server.close()

    @property
    def port(self) -> int:
        return self.server.port

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def put(self, name: str, data: bytes) -> str:
        self.files[name] = data
        return self.url(f"/attachments/{name}")

    async def _file(self, request: web.Request) -> web.Response:
        self.hits.append((request.host, request.path))
        name = request.match_info["name"]
        if name not in self.files:
            raise web.HTTPNotFound()
        return web.Response(body=self.files[name], content_type="application/octet-stream")

    async def _redirect(self, request: web.Request) -> web.Response:
        self.hits.append((request.host, request.path))
        host = "127.0.0.1" if request.match_info["where"] == "home" else "localhost"
        raise web.HTTPFound(self.url(f"/attachments/{request.match_info['name']}", host=host))

    async def _endless(self, request: web.Request) -> web.StreamResponse:
        """A body that never ends, as fast as the client reads (no Content-Length)."""
        self.hits.append((request.host, request.path))
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        chunk = b"\0" * 65536
        try:
            while True:
                await response.write(chunk)
        except (ConnectionError, RuntimeError):
            pass
        return response

    async def _trickle(self, request: web.Request) -> web.StreamResponse:
        """A body that never ends, one byte at a time (only a deadline stops it)."""
        self.hits.append((request.host, request.path))
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        try:
            while True:
                await response.write(b"x")
                await asyncio.sleep(0.05)
        except (ConnectionError, RuntimeError):
            pass
        return response

    async def _status(self, request: web.Request) -> web.Response:
        self.hits.append((request.host, request.path))
        return web.Response(status=int(request.match_info["code"]))


def attachment(
    url: str,
    filename: str = "picture.png",
    size: int | None = None,
    content_type: str | None = "image/png",
    data: bytes | None = None,
) -> discord.Attachment:
    """A real `discord.Attachment` as Discord describes it."""
    payload: dict[str, Any] = {
        "id": str(next(_ids)),
        "size": size if size is not None else len(data or b"x" * 1000),
        "filename": filename,
        "url": url,
        "proxy_url": url,
    }
    if content_type is not None:
        payload["content_type"] = content_type
    return discord.Attachment(data=payload, state=SimpleNamespace(http=None))


def member(user_id: int, roles: tuple[int, ...] = ()) -> MagicMock:
    user = MagicMock(spec_set=discord.Member)
    user.id = user_id
    user.bot = False
    user.roles = [SimpleNamespace(id=r) for r in roles]
    user.mention = f"<@{user_id}>"
    return user


def guild(guild_id: int) -> MagicMock:
    g = MagicMock(spec_set=discord.Guild)
    g.id = guild_id
    g.filesize_limit = UPLOAD_LIMIT
    return g


def text_channel(channel_id: int = CHANNEL, guild_id: int = GUILD_A) -> MagicMock:
    channel = MagicMock(spec_set=discord.TextChannel)
    channel.id = channel_id
    channel.guild = guild(guild_id)
    channel.mention = f"<#{channel_id}>"
    return channel


@dataclass
class Sent:
    """One thing the bot sent through an interaction."""

    via: str  # "response", "followup", "edit" or "modal"
    kwargs: dict[str, Any]

    @property
    def text(self) -> str:
        """Content and embed texts, for assertions."""
        parts = [self.kwargs.get("content") or (self.kwargs.get("args") or [""])[0] or ""]
        embeds = list(self.kwargs.get("embeds") or []) + ([self.kwargs["embed"]] if self.kwargs.get("embed") else [])
        for e in embeds:
            parts += [e.title or "", e.description or "", e.footer.text or ""]
        return "\n".join(p for p in parts if p)

    @property
    def ephemeral(self) -> bool:
        return bool(self.kwargs.get("ephemeral"))

    @property
    def files(self) -> list[discord.File]:
        return list(self.kwargs.get("files") or []) + ([self.kwargs["file"]] if self.kwargs.get("file") else [])

    @property
    def view(self) -> discord.ui.View | None:
        return self.kwargs.get("view")


@dataclass
class FakeInteraction:
    """A `discord.Interaction` (spec_set mock) that records what is sent and enforces Discord's
    rules: one response, follow-ups only after it."""

    interaction: MagicMock
    sent: list[Sent] = field(default_factory=list)
    deferred: dict[str, Any] | None = None
    done: bool = False

    @property
    def last(self) -> Sent:
        return self.sent[-1]


def fake_interaction(
    guild_id: int | None = GUILD_A,
    user_id: int = MEMBER,
    *,
    permissions: discord.Permissions | None = None,
    roles: tuple[int, ...] = (),
    filesize_limit: int = UPLOAD_LIMIT,
) -> FakeInteraction:
    inter = MagicMock(spec_set=discord.Interaction)
    fake = FakeInteraction(inter)
    inter.guild_id = guild_id
    inter.user = member(user_id, roles)
    inter.permissions = permissions or discord.Permissions.none()
    inter.filesize_limit = filesize_limit
    inter.command = None

    def responder(via: str) -> Callable[..., Any]:
        async def respond(*args: Any, **kwargs: Any) -> None:
            if fake.done:
                raise discord.InteractionResponded(inter)
            fake.done = True
            if via == "defer":
                fake.deferred = kwargs
            else:
                fake.sent.append(Sent(via, {"args": list(args), **kwargs}))

        return respond

    response = MagicMock(spec_set=discord.InteractionResponse)
    response.defer.side_effect = responder("defer")
    response.send_message.side_effect = responder("response")
    response.edit_message.side_effect = responder("edit")
    response.send_modal.side_effect = responder("modal")
    response.is_done.side_effect = lambda: fake.done
    inter.response = response

    async def followup_send(*args: Any, **kwargs: Any) -> None:
        if not fake.done:  # Discord answers 404 Unknown Webhook
            raise AssertionError("follow-up sent before any response")
        fake.sent.append(Sent("followup", {"args": list(args), **kwargs}))

    followup = MagicMock(spec_set=discord.Webhook)
    followup.send.side_effect = followup_send
    inter.followup = followup
    inter.delete_original_response = AsyncMock()
    return fake


def admin_interaction(guild_id: int = GUILD_A, **kwargs: Any) -> FakeInteraction:
    return fake_interaction(guild_id, ADMIN, permissions=discord.Permissions(manage_guild=True), **kwargs)


async def invoke(bot, command, fake: FakeInteraction, *args: Any, **kwargs: Any) -> None:
    """Run an app command (or context menu) callback as `CommandTree._call` does: any exception,
    wrapped in `CommandInvokeError`, goes to the tree's `on_error`."""
    fake.interaction.command = command
    try:
        if isinstance(command, app_commands.ContextMenu):
            await command.callback(fake.interaction, *args)  # a bound method of the cog
        else:
            await command.callback(command.binding, fake.interaction, *args, **kwargs)
    except Exception as exc:
        await bot.tree.on_error(fake.interaction, app_commands.CommandInvokeError(command, exc))


async def click(view: discord.ui.View, label: str, fake: FakeInteraction) -> None:
    """Press a button as discord.py's view dispatch does: interaction_check, then the callback."""
    item = next(i for i in view.children if getattr(i, "label", None) == label)
    try:
        if await view.interaction_check(fake.interaction):
            await item.callback(fake.interaction)
    except Exception as exc:
        await view.on_error(fake.interaction, exc, item)


async def submit(modal: discord.ui.Modal, fake: FakeInteraction, **values: Any) -> None:
    """Submit a modal as discord.py does when Discord sends the form back: its components come as
    Discord's payload (`values` by the attribute name of each select or text input: a list of
    option values, or the typed text), then interaction_check, on_submit, on_error."""
    discord.ui.Modal.to_dict(modal)  # what would be sent to Discord must serialise
    components = []
    for attr, value in values.items():
        item = getattr(modal, attr)
        if isinstance(item, discord.ui.TextInput):
            component = {"type": 4, "custom_id": item.custom_id, "value": value}
        else:
            component = {"type": 3, "custom_id": item.custom_id, "values": list(value)}
        components.append({"type": 18, "component": component})
    modal._refresh(fake.interaction, components, {})
    try:
        if await modal.interaction_check(fake.interaction):
            await modal.on_submit(fake.interaction)
    except Exception as exc:
        await modal.on_error(fake.interaction, exc)


def fake_message(
    attachments: list[discord.Attachment] = (),
    embeds: list[discord.Embed] = (),
    *,
    guild_id: int | None = GUILD_A,
    channel_id: int = CHANNEL,
    author_bot: bool = False,
) -> MagicMock:
    message = MagicMock(spec_set=discord.Message)
    message.attachments = list(attachments)
    message.embeds = list(embeds)
    message.author = member(MEMBER)
    message.author.bot = author_bot
    message.guild = guild(guild_id) if guild_id is not None else None
    message.channel = text_channel(channel_id, guild_id or 0)
    message.reply = AsyncMock()
    message.id = next(_ids)
    message.jump_url = f"https://discord.com/channels/{guild_id or '@me'}/{channel_id}/{message.id}"
    return message


def picture_size(file: discord.File) -> tuple[int, int]:
    """Width and height of an uploaded picture (rewinds the file)."""
    file.fp.seek(0)
    data = file.fp.read()
    file.fp.seek(0)
    with Image.open(io.BytesIO(data)) as img:
        return img.size
