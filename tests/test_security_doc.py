"""docs/security.md states the defaults of the limits: it must say what the code does."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.cogs.enroll import PICK_TIMEOUT
from bot.fetch import ImageFetcher
from bot.replies import DESCRIPTION_LIMIT, EMBED_TOTAL_LIMIT, LINK_SHOWN, SERIES_SHOWN
from bot.views import MAX_PICKABLE
from recognition.config import Settings

DOC = (Path(__file__).resolve().parents[1] / "docs" / "security.md").read_text(encoding="utf-8")
S = Settings()
ES = S.gallery.elasticsearch


LIMITS = DOC.split("## Limits and their defaults", 1)[1].split("\n## ", 1)[0]


def row(setting: str) -> str:
    """The row of the limits table whose last column names `setting`."""
    (line,) = [x for x in LIMITS.splitlines() if x.startswith("|") and f"`{setting}`" in x.rsplit("|", 2)[1]]
    return line


@pytest.mark.parametrize(
    ("setting", "shown"),
    [
        ("limits.max_bytes", f"{S.limits.max_bytes // 2**20} MiB"),
        ("limits.max_pixels", f"{S.limits.max_pixels:,}"),
        ("recognition.max_faces", f"| {S.recognition.max_faces} |"),
        ("inference.max_pending", f"| {S.inference.max_pending} |"),
        ("bot.cooldown_uses", f"{S.bot.cooldown_uses} per {S.bot.cooldown_seconds:g} s"),
        ("bot.max_images", f"| {S.bot.max_images} |"),
        ("review.member_limit", f"{S.review.member_limit} per {S.review.member_window_minutes:g} min"),
        ("review.max_pending", f"| {S.review.max_pending}; {S.review.expire_days:g} days |"),
        ("bot.download_timeout", f"{S.bot.download_timeout:g} s"),
        ("detector.min_size", f"{S.detector.min_size} px; {S.detector.max_side} px"),
        ("inference.threads", f"{S.inference.threads}; {S.inference.max_batch}; {S.inference.max_wait_ms:g} ms"),
        ("gallery.elasticsearch.*", f"{ES.request_timeout:g} s; {ES.retries}; {ES.retry_backoff:g} s"),
    ],
)
def test_defaults_in_the_doc_are_the_code_defaults(setting, shown):
    assert shown in row(setting)


def test_constants_in_the_doc():
    assert f"| {ImageFetcher.__init__.__kwdefaults__['max_redirects']} |" in row("ImageFetcher.max_redirects")
    assert f"buttons for at most {MAX_PICKABLE} faces" in DOC and f"{PICK_TIMEOUT:g} s; 300 s" in DOC
    (text,) = [x.replace(",", "") for x in LIMITS.splitlines() if x.startswith("| reply text |")]
    assert re.search(rf"{DESCRIPTION_LIMIT} .* {EMBED_TOTAL_LIMIT} .* {SERIES_SHOWN} .* {LINK_SHOWN}", text)
