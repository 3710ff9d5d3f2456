"""`kaobot web`: a page and a JSON API over the same `Recognizer` the bot and the CLI use.

A thin adapter: no recognition code of its own (see `web.app`)."""

from __future__ import annotations

from .app import TOKEN_VARIABLE, create_app

__all__ = ["TOKEN_VARIABLE", "create_app"]
