"""Logging for `kaobot bot`: one stderr handler whose formatter removes secrets from every line,
tracebacks included."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TextIO

REDACTED = "[redacted]"


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
