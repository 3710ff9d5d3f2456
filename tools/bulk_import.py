"""Bulk enrolment from one folder per character (`kaobot import`).

The original project enrolled exactly N random images per identity and crashed on identities
with fewer than N; here a character with fewer images enrols all it has.
"""

from __future__ import annotations

import csv
import logging
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from recognition.errors import BadImage, DuplicateEnrollment, KaobotError, NoFaceFound
from recognition.images import IMAGE_SUFFIXES
from recognition.service import Recognizer

log = logging.getLogger(__name__)

@dataclass
class ImportSummary:
    characters: int = 0
    images: int = 0
    enrolled: int = 0
    skipped: Counter = field(default_factory=Counter)  # reason -> count

    def describe(self) -> str:
        skipped = ", ".join(f"{n} {reason}" for reason, n in sorted(self.skipped.items())) or "none"
        return f"{self.characters} character(s), {self.images} image(s): {self.enrolled} face(s) enrolled; skipped: {skipped}"


def read_names(path: str | Path) -> dict[str, str]:
    """Folder → name map from a two-column file (tab, comma or whitespace separated)."""
    text = Path(path).read_text(encoding="utf-8")
    mapping = {}
    dialect = "excel-tab" if "\t" in text else "excel"
    for row in csv.reader(text.splitlines(), dialect=dialect):
        if len(row) == 1 and " " in row[0].strip():
            row = row[0].split(None, 1)
        if len(row) >= 2 and row[0].strip() and row[1].strip():
            mapping[row[0].strip()] = row[1].strip()
    return mapping


def character_folders(root: Path) -> list[Path]:
    """Sub-folders of `root` holding at least one image, sorted by name."""
    return sorted(p for p in root.iterdir() if p.is_dir() and any(_is_image(f) for f in p.iterdir()))


def _is_image(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES


def pick_images(folder: Path, per_identity: int | None, seed: int = 0) -> list[Path]:
    """Up to `per_identity` images of a folder, chosen reproducibly (all of them if fewer)."""
    images = sorted(f for f in folder.iterdir() if _is_image(f))
    if per_identity is None or len(images) <= per_identity:
        return images
    return sorted(random.Random(f"{seed}:{folder.name}").sample(images, per_identity))


async def import_folders(
    recognizer: Recognizer,
    root: str | Path,
    scope: str,
    per_identity: int | None = None,
    names: dict[str, str] | None = None,
    progress: bool = True,
) -> ImportSummary:
    """Enrol the largest face of each chosen image of each character folder."""
    from tqdm import tqdm

    root = Path(root)
    if not root.is_dir():
        raise KaobotError(f"{root} is not a folder")
    folders = character_folders(root)
    plan = [
        (names.get(f.name, f.name) if names else f.name, path) for f in folders for path in pick_images(f, per_identity)
    ]
    summary = ImportSummary(characters=len(folders), images=len(plan))
    for name, path in tqdm(plan, desc="import", unit="img", disable=not progress):
        try:
            await recognizer.enroll(name, path.read_bytes(), scope)
            summary.enrolled += 1
        except NoFaceFound:
            summary.skipped["without a face"] += 1
        except DuplicateEnrollment:
            summary.skipped["already enrolled"] += 1
        except (BadImage, OSError) as exc:
            log.warning("skipping %s: %s", path, exc)
            summary.skipped["unreadable"] += 1
    return summary
