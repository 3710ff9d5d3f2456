"""Per-character folder views of the shared character sets, split by character (symlinks, no copies).

Two layouts are read:

* `anime-id` (`characters.csv`: source, character, split; folders `<source>__<character>/`);
* `kancolle-faces` (`images.csv`: file, character, split; folders `<character>/`).

`kaobot data anime-id-views --root ../shared/data/anime-id --out runs/anime-id` (or
`--root ../shared/data/kancolle-faces --out runs/kancolle`) writes::

    OUT/train/<character>/<file>.jpg      -> the pictures of every `train` character
    OUT/heldout/gallery/<character>/...   -> a seeded share of each `heldout` character
    OUT/heldout/probes/<character>/...    -> the rest of each `heldout` character
    OUT/views.json                        -> counts and the settings used

The `heldout` characters are split image-wise into gallery (enrolment) and probe pictures so that
`kaobot eval recognition --gallery OUT/heldout/gallery --probes OUT/heldout/probes` never matches a
picture with itself. Every entry is a symbolic link to the original file.
"""

from __future__ import annotations

import csv
import json
import random
import shutil
from pathlib import Path

SPLITS = ("train", "heldout")
SUFFIXES = {".jpg", ".jpeg", ".png"}


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    bad = [r for r in rows if r.get("split") not in SPLITS]
    if bad:
        raise ValueError(f"{path.name}: unknown split in {bad[0]}")
    return rows


def read_characters(root: Path) -> list[dict[str, str]]:
    """Rows of anime-id's `characters.csv` (source, character, split, ...)."""
    return _read_csv(root / "characters.csv")


def character_splits(root: str | Path) -> dict[str, tuple[str, list[Path]]]:
    """{character folder: (split, its pictures sorted)} for either layout (see the module docstring)."""
    root = Path(root)
    out: dict[str, tuple[str, list[Path]]] = {}
    if (root / "characters.csv").is_file():
        for row in read_characters(root):
            name = f"{row['source']}__{row['character']}"
            files = sorted(p for p in (root / name).iterdir() if p.suffix.lower() in SUFFIXES)
            out[name] = (row["split"], files)
    elif (root / "images.csv").is_file():
        for row in _read_csv(root / "images.csv"):
            split, files = out.setdefault(row["character"], (row["split"], []))
            if split != row["split"]:
                raise ValueError(f"images.csv: character {row['character']!r} is in both splits")
            files.append(root / row["file"])
        for _, files in out.values():
            files.sort()
    else:
        raise ValueError(f"{root} has neither characters.csv (anime-id) nor images.csv (kancolle-faces)")
    for name, (_, files) in out.items():
        if not files:
            raise ValueError(f"no images in {root / name}")
    return out


def _link_all(files: list[Path], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for f in files:
        (folder / f.name).symlink_to(f.resolve())


def build_views(root: str | Path, out: str | Path, gallery_fraction: float = 0.5, min_gallery: int = 5,
                seed: int = 0) -> dict[str, object]:
    """Build the views under `out` (replacing earlier ones); returns the counts written to views.json."""
    root, out = Path(root), Path(out)
    characters = character_splits(root)
    for split in SPLITS:
        if (out / split).exists():
            shutil.rmtree(out / split)
    counts: dict[str, dict[str, int]] = {"train": {}, "gallery": {}, "probes": {}}
    for name, (split, files) in characters.items():
        if split == "train":
            _link_all(files, out / "train" / name)
            counts["train"][name] = len(files)
            continue
        shuffled = files[:]
        random.Random(f"{seed}:{name}").shuffle(shuffled)
        n_gallery = min(len(files) - 1, max(min_gallery, round(len(files) * gallery_fraction)))
        _link_all(shuffled[:n_gallery], out / "heldout" / "gallery" / name)
        _link_all(shuffled[n_gallery:], out / "heldout" / "probes" / name)
        counts["gallery"][name] = n_gallery
        counts["probes"][name] = len(files) - n_gallery
    report = {
        "root": str(root.resolve()),
        "seed": seed,
        "gallery_fraction": gallery_fraction,
        "min_gallery": min_gallery,
        "characters": {k: len(v) for k, v in counts.items()},
        "images": {k: sum(v.values()) for k, v in counts.items()},
        "per_character": counts,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "views.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    return report
