"""Fit a projection of the baseline descriptor on training characters (`kaobot train projection`).

    kaobot train projection --data runs/anime-id/train --output runs/proj --seed 0
    kaobot train projection --data runs/anime-id/train --output runs/proj --seed 0 --fusion-weights 0.3 0.5 0.7 1

Every picture of `--data` (one sub-folder per character) goes through the configured detector and
the baseline embedder exactly as `kaobot eval recognition` does (largest face, whole picture when
none is found). A shrinkage LDA (scikit-learn, eigen solver) is fitted on those descriptors; its
first `components` directions (default: characters − 1) and the training mean make the projection
(`recognition.embed.projected`). A fusion weight w < 1 makes the embedder concatenate the projected
vector with the baseline descriptor (cosine = w · cos(projected) + (1−w) · cos(baseline)); w = 1 is
the projection alone. The shrinkage and the weight are chosen by cross-validation over
*characters*: the training characters are split into `--folds` groups; for each group the
projection is fitted on the others and scored on the unseen group (half of each character's
pictures enrolled; mean of 1-shot and 5-shot rank-1, TAR at FAR 1 % reported alongside). No
held-out data is read. Written to `--output`: `projection.pt` (the embedder checkpoint), `cv.json`
(the grid and the scores) and `descriptors.npz` (the cache).
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
from recognition.embed.base import check_fusion_weight, weighted_concat
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
    p.add_argument("--fusion-weights", type=float, nargs="+", default=[1.0],
                   help="share w of the projection in the similarity, fused with the baseline descriptor; 1: the "
                        "projection alone (several values: chosen by cross-validation with the shrinkage)")
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


def embed(x: np.ndarray, mean: np.ndarray, matrix: np.ndarray, weight: float) -> np.ndarray:
    """What the embedder makes of unit baseline descriptors `x`: projected, fused with `x` when w < 1."""
    projected = l2_normalize((x - mean) @ matrix)
    return projected if weight >= 1.0 else weighted_concat(projected, x, weight)


def setting_key(shrinkage: float, weight: float) -> str:
    """Name of one grid point in `cv.json`."""
    return f"s={shrinkage:g} w={weight:g}"


def cross_validate(x: np.ndarray, y: np.ndarray, grid: list[float], components: int | None, folds: int,
                   seed: int, weights: tuple[float, ...] | list[float] = (1.0,)) -> dict[str, Any]:
    """Scores of each (shrinkage, fusion weight) on characters left out of the fit; `baseline` scores the
    raw descriptor. The selection score (`mean`) is the mean of 1-shot and 5-shot rank-1."""
    characters = sorted(set(y))
    random.Random(seed).shuffle(characters)
    groups = [set(characters[i::folds]) for i in range(folds)]
    settings = [(s, w) for s in grid for w in weights]
    metrics: dict[str, list[dict[str, float]]] = {"baseline": [], **{setting_key(s, w): [] for s, w in settings}}
    for i, group in enumerate(groups):
        held = np.isin(y, list(group))
        metrics["baseline"].append(cv_scores(x[held], y[held], random.Random(seed + i)))
        for s in grid:
            mean, matrix = fit(x[~held], y[~held], s, components)
            for w in weights:
                z = embed(x[held], mean, matrix, w)
                metrics[setting_key(s, w)].append(cv_scores(z, y[held], random.Random(seed + i)))
    scores = {k: [(m["rank1_1shot"] + m["rank1_5shot"]) / 2 for m in v] for k, v in metrics.items()}
    means = {k: float(np.mean(v)) for k, v in scores.items()}
    table = {k: {name: float(np.mean([m[name] for m in v])) for name in v[0]} for k, v in metrics.items()}
    best_s, best_w = max(settings, key=lambda sw: means[setting_key(*sw)])
    return {"folds": [sorted(g) for g in groups], "scores": scores, "mean": means, "metrics": table,
            "best_shrinkage": best_s, "best_weight": best_w}


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
    grid, weights = list(args.shrinkage), list(args.fusion_weights)
    for w in weights:
        if w != 1.0:
            check_fusion_weight(w)  # ValueError outside (0, 1], before any work
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    x, y, detected = descriptors(list(args.data), out / "descriptors.npz")
    log.info("%d pictures of %d characters (face found in %.3f)", len(y), len(set(y)), detected)
    searched = len(grid) > 1 or len(weights) > 1
    cv = cross_validate(x, y, grid, args.components, args.folds, args.seed, weights) if searched else None
    shrinkage, weight = (cv["best_shrinkage"], cv["best_weight"]) if cv else (grid[0], weights[0])
    mean, matrix = fit(x, y, shrinkage, args.components)
    base_id = BaselineEmbedder.model_id
    fused = weight < 1.0
    digest = hashlib.sha256(mean.tobytes() + matrix.tobytes() + (f"w{weight:g}".encode() if fused else b"")).hexdigest()
    name = f"lda{matrix.shape[1]}" + (f"-fused-w{weight:g}" if fused else "")
    model_id = args.model_id or f"kaobot-{name}-{base_id}-{digest[:10]}"
    import torch

    dim = int(matrix.shape[1]) + (len(mean) if fused else 0)
    meta = {"base": base_id, "dim": dim, "shrinkage": shrinkage, "characters": len(set(y)), "pictures": len(y),
            "face_found": detected, "data": [str(d) for d in args.data], "seed": args.seed}
    if fused:
        meta["fusion_weight"] = weight
    path = save_checkpoint(out / "projection.pt", kind="embedder", model_id=model_id, arch=ARCH, arch_kwargs={},
                           meta=meta, state_dict={"mean": torch.from_numpy(mean), "matrix": torch.from_numpy(matrix)})
    result = {"model_id": model_id, "checkpoint": str(path), "shrinkage": shrinkage,
              "fusion_weight": weight, "cv_mean": cv["mean"] if cv else None, "seconds": round(time.perf_counter() - t0, 1)}
    (out / "cv.json").write_text(json.dumps({"result": result, "cv": cv}, indent=1) + "\n")
    return result
