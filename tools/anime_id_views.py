"""Per-identity folder views of the `anime-id` set, split by `characters.csv` (symlinks, no copies).

`kaobot data anime-id-views --root ../shared/data/anime-id --out runs/anime-id` writes::

    OUT/train/<source>__<character>/<file>.jpg      -> the crops of every `train` character
    OUT/heldout/gallery/<source>__<character>/...   -> a seeded share of each `heldout` character
    OUT/heldout/probes/<source>__<character>/...    -> the rest of each `heldout` character
    OUT/views.json                                  -> counts and the settings used

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


def read_characters(root: Path) -> list[dict[str, str]]:
    """Rows of `characters.csv` (source, character, split, ...)."""
    with (root / "characters.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    bad = [r for r in rows if r.get("split") not in SPLITS]
    if bad:
        raise ValueError(f"characters.csv: unknown split in {bad[0]}")
    return rows


def _link_all(files: list[Path], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for f in files:
        (folder / f.name).symlink_to(f.resolve())


def build_views(root: str | Path, out: str | Path, gallery_fraction: float = 0.5, min_gallery: int = 5,
                seed: int = 0) -> dict[str, object]:
    """Build the views under `out` (replacing earlier ones); returns the counts written to views.json."""
    root, out = Path(root), Path(out)
    rows = read_characters(root)
    for split in SPLITS:
        if (out / split).exists():
            shutil.rmtree(out / split)
    counts: dict[str, dict[str, int]] = {"train": {}, "gallery": {}, "probes": {}}
    for row in rows:
        name = f"{row['source']}__{row['character']}"
        files = sorted(p for p in (root / name).iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png"})
        if not files:
            raise ValueError(f"no images in {root / name}")
        if row["split"] == "train":
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
