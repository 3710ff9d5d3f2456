"""Fit a projection of the baseline descriptor on training characters (`kaobot train projection`).

    kaobot train projection --data runs/anime-id/train --output runs/proj --seed 0

Every picture of `--data` (one sub-folder per character) goes through the configured detector and
the baseline embedder exactly as `kaobot eval recognition` does (largest face, whole picture when
none is found). A shrinkage LDA (scikit-learn, eigen solver) is fitted on those descriptors; its
first `components` directions (default: characters − 1) and the training mean make the projection
(`recognition.embed.projected`). The shrinkage is chosen by cross-validation over *characters*:
the training characters are split into `--folds` groups; for each group the projection is fitted
on the others and scored on the unseen group (half of each character's pictures enrolled, 1-shot
and 5-shot rank-1). No held-out data is read. Written to `--output`: `projection.pt` (the
embedder checkpoint), `cv.json` (the grid and the scores) and `descriptors.npz` (the cache).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import random
import time
from pathlib import Path
from typing import Any

import numpy as np

from recognition.checkpoints import save_checkpoint
from recognition.embed.baseline import BaselineEmbedder
from recognition.embed.projected import ARCH
from recognition.preprocess import l2_normalize
from training import recognition_eval as ev

log = logging.getLogger(__name__)


def get_args_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    p = parser or argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", nargs="+", required=True, help="folder(s) of character sub-folders")
    p.add_argument("--output", required=True, help="run folder")
    p.add_argument("--shrinkage", type=float, nargs="+", default=[0.1, 0.3, 0.5, 0.7, 0.9],
                   help="LDA shrinkage values tried by cross-validation (one value: no search)")
    p.add_argument("--components", type=int, default=None, help="output size (default: characters − 1)")
    p.add_argument("--folds", type=int, default=4, help="character folds for the cross-validation")
    p.add_argument("--model-id", default=None, help="default: kaobot-lda<k>-<baseline id>-<hash>")
    p.add_argument("--seed", type=int, default=0)
    return p


def fit(x: np.ndarray, y: np.ndarray, shrinkage: float, components: int | None) -> tuple[np.ndarray, np.ndarray]:
    """(mean, matrix) of a shrinkage LDA fitted on descriptors `x` with labels `y`."""
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    k = min(components or len(set(y)) - 1, len(set(y)) - 1)
    lda = LinearDiscriminantAnalysis(solver="eigen", shrinkage=shrinkage).fit(x, y)
    return x.mean(axis=0).astype(np.float32), lda.scalings_[:, :k].astype(np.float32)


def _rank1(z: np.ndarray, y: np.ndarray, rng: random.Random) -> float:
    """Mean 1-shot and 5-shot rank-1 of vectors `z`: half of each character's pictures enrolled."""
    gallery, probes = [], []
    for label in sorted(set(y)):
        idx = list(np.flatnonzero(y == label))
        rng.shuffle(idx)
        half = max(1, len(idx) // 2)
        gallery += idx[:half]
        probes += idx[half:]
    g = ev.EmbeddedSet(z[gallery], y[gallery], np.ones(len(gallery), bool))
    p = ev.EmbeddedSet(z[probes], y[probes], np.ones(len(probes), bool))
    return float(np.mean([ev.closed_set(g, p, shots, seeds=3)["rank1"] for shots in (1, 5)]))


def cross_validate(x: np.ndarray, y: np.ndarray, grid: list[float], components: int | None, folds: int,
                   seed: int) -> dict[str, Any]:
    """Score of each shrinkage on characters left out of the fit; `baseline` scores the raw descriptor."""
    characters = sorted(set(y))
    random.Random(seed).shuffle(characters)
    groups = [set(characters[i::folds]) for i in range(folds)]
    scores: dict[str, list[float]] = {"baseline": [], **{str(s): [] for s in grid}}
    for i, group in enumerate(groups):
        held = np.isin(y, list(group))
        scores["baseline"].append(_rank1(x[held], y[held], random.Random(seed + i)))
        for s in grid:
            mean, matrix = fit(x[~held], y[~held], s, components)
            scores[str(s)].append(_rank1(l2_normalize((x[held] - mean) @ matrix), y[held], random.Random(seed + i)))
    means = {k: float(np.mean(v)) for k, v in scores.items()}
    best = max(grid, key=lambda s: means[str(s)])
    return {"folds": [sorted(g) for g in groups], "scores": scores, "mean": means, "best_shrinkage": best}


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


def main(args: argparse.Namespace) -> dict[str, Any]:
    """Fit, cross-validate and save; returns the chosen setting, the CV scores and the checkpoint path."""
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    x, y, detected = descriptors(list(args.data), out / "descriptors.npz")
    log.info("%d pictures of %d characters (face found in %.3f)", len(y), len(set(y)), detected)
    grid = list(args.shrinkage)
    cv = cross_validate(x, y, grid, args.components, args.folds, args.seed) if len(grid) > 1 else None
    shrinkage = cv["best_shrinkage"] if cv else grid[0]
    mean, matrix = fit(x, y, shrinkage, args.components)
    base_id = BaselineEmbedder.model_id
    digest = hashlib.sha256(mean.tobytes() + matrix.tobytes()).hexdigest()[:10]
    model_id = args.model_id or f"kaobot-lda{matrix.shape[1]}-{base_id}-{digest}"
    import torch

    meta = {"base": base_id, "dim": int(matrix.shape[1]), "shrinkage": shrinkage, "characters": len(set(y)),
            "pictures": len(y), "face_found": detected, "data": [str(d) for d in args.data], "seed": args.seed}
    path = save_checkpoint(out / "projection.pt", kind="embedder", model_id=model_id, arch=ARCH, arch_kwargs={},
                           meta=meta, state_dict={"mean": torch.from_numpy(mean), "matrix": torch.from_numpy(matrix)})
    result = {"model_id": model_id, "checkpoint": str(path), "shrinkage": shrinkage,
              "cv_mean": cv["mean"] if cv else None, "seconds": round(time.perf_counter() - t0, 1)}
    (out / "cv.json").write_text(json.dumps({"result": result, "cv": cv}, indent=1) + "\n")
    return result
