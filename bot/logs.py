"""Logging for `kaobot bot`: one stderr handler whose formatter removes secrets (the Discord token,
the Elasticsearch password or API key) from every line, tracebacks included."""

from __future__ import annotations

import base64
import logging
import os
from collections.abc import Iterable
from typing import TextIO

REDACTED = "[redacted]"


def secrets_to_redact(token: str, es_username: str | None = None) -> list[str]:
    """The Discord token and the Elasticsearch credentials from the environment, each as given and
    as sent in an HTTP header (`Basic base64(user:password)`)."""
    from recognition.gallery.elastic import API_KEY_ENV, PASSWORD_ENV

    secrets = [token]
    password, api_key = os.environ.get(PASSWORD_ENV), os.environ.get(API_KEY_ENV)
    if password:
        secrets.append(password)
        if es_username:
            secrets.append(base64.b64encode(f"{es_username}:{password}".encode()).decode("ascii"))
    if api_key:
        secrets.append(api_key)
    return secrets


class RedactingFormatter(logging.Formatter):
    """Formats as usual, then replaces every secret (the Discord token, …) in the result."""

    def __init__(self, secrets: Iterable[str], fmt: str | None = None) -> None:
        super().__init__(fmt or "%(asctime)s %(levelname)s %(name)s: %(message)s")
        # Longest first, and skip trivially short values that would blank out ordinary text.
        self.secrets = sorted({s for s in secrets if s and len(s) >= 8}, key=len, reverse=True)

    def format(self, record: logging.LogRecord) -> str:
        return self.redact(super().format(record))

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return text


def setup_logging(secrets: Iterable[str], level: int = logging.INFO, stream: TextIO | None = None) -> logging.Handler:
    """Install the redacting handler on the root logger (replacing earlier handlers); returns it."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(RedactingFormatter(secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("discord.http").setLevel(max(level, logging.INFO))  # DEBUG would dump requests
    return handler
