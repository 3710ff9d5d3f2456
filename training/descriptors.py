"""The baseline descriptors of labelled pictures, and how well a vector set separates characters.

Shared by the trainers that fit on the training-free descriptor (`kaobot train descriptor-head`)
and by the fusion choice (`kaobot train fusion`): `descriptors` detects and describes every
picture once (cached), `cv_scores` scores vectors on a half split of each character's pictures.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np

from recognition.embed.baseline import BaselineEmbedder
from training import recognition_eval as ev


def half_split(z: np.ndarray, y: np.ndarray, rng: random.Random) -> tuple[ev.EmbeddedSet, ev.EmbeddedSet]:
    """(gallery, probes) of vectors `z` with labels `y`: a shuffled half of each character's pictures
    enrolled (at least one), the rest probes."""
    gallery, probes = [], []
    for label in sorted(set(y)):
        idx = list(np.flatnonzero(y == label))
        rng.shuffle(idx)
        half = max(1, len(idx) // 2)
        gallery += idx[:half]
        probes += idx[half:]
    g = ev.EmbeddedSet(z[gallery], y[gallery], np.ones(len(gallery), bool))
    p = ev.EmbeddedSet(z[probes], y[probes], np.ones(len(probes), bool))
    return g, p


def cv_scores(z: np.ndarray, y: np.ndarray, rng: random.Random) -> dict[str, float]:
    """1-shot and 5-shot rank-1 and TAR at FAR 1 % of vectors `z` on a `half_split`."""
    g, p = half_split(z, y, rng)
    return {"rank1_1shot": ev.closed_set(g, p, 1, seeds=3)["rank1"],
            "rank1_5shot": ev.closed_set(g, p, 5, seeds=3)["rank1"],
            "tar@far=0.01": ev.verification(g, p, fars=(1e-2,))["tar@far=0.01"]}


def descriptors(roots: list[str], cache: Path) -> tuple[np.ndarray, np.ndarray, float]:
    """Baseline descriptors of every picture (detector as configured), cached in `cache`."""
    from recognition import load_settings
    from recognition.detect import build_detector

    if cache.is_file():
        data = np.load(cache)
        return data["x"], data["y"], float(data["detected"])
    detector = build_detector(load_settings().detector)
    items = []
    for root in roots:
        prefix = f"{Path(root).name}/" if len(roots) > 1 else ""
        items += [(path, prefix + label) for path, label in ev.list_labelled_images(root)]
    embedded = ev.embed_images(items, detector, BaselineEmbedder(), progress=False)
    detected = float(np.mean(embedded.detected))
    np.savez(cache, x=embedded.vectors, y=embedded.labels, detected=detected)
    return embedded.vectors, embedded.labels, detected
