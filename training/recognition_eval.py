"""Recognition evaluation over gallery/probe folders (one sub-folder per character).

Protocol (what `kaobot eval recognition` reports):

* every image is run through the configured detector and embedder; the largest face is used;
  an image in which no face is found falls back to the whole image as the face (face-crop
  datasets), and the share of images with a detected face is reported;
* closed set: for each number of shots S and seed, S random gallery images per character are
  enrolled; rank-1 / rank-5 = share of probes whose character is among the top 1 / 5 characters
  (characters ranked by their best face);
* open set: a random `unknown_fraction` of the characters is not enrolled; at a threshold t a
  known probe counts as correct when its top character is right with similarity ≥ t, an unknown
  probe as rejected when its best similarity is < t. The suggested threshold maximises the mean
  of the two rates;
* verification: TAR at FAR 1 % and 0.1 % over every probe × gallery-image pair (scikit-learn's
  ROC curve).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from recognition.detect import Detector
from recognition.embed import Embedder
from recognition.errors import BadImage
from recognition.faces import Face
from recognition.images import IMAGE_SUFFIXES, decode_image

THRESHOLDS = np.round(np.arange(0.30, 0.996, 0.005), 3)


@dataclass
class EmbeddedSet:
    vectors: np.ndarray  # (n, dim)
    labels: np.ndarray  # (n,) str
    detected: np.ndarray  # (n,) bool: a face was found (else whole-image fallback)
    embed_seconds: float = 0.0  # time spent in `Embedder.embed` (one face per call)


def list_labelled_images(root: str | Path) -> list[tuple[Path, str]]:
    """(image, character folder name) pairs under `root`, sorted."""
    root = Path(root)
    return [
        (f, d.name)
        for d in sorted(p for p in root.iterdir() if p.is_dir())
        for f in sorted(d.iterdir())
        if f.suffix.lower() in IMAGE_SUFFIXES
    ]


def embed_images(
    items: Sequence[tuple[Path, str]], detector: Detector, embedder: Embedder, progress: bool = False
) -> EmbeddedSet:
    """Embed the largest face of each image (whole image when none is found)."""
    import time

    from tqdm import tqdm

    vectors, labels, detected, seconds = [], [], [], 0.0
    for path, label in tqdm(items, desc="embed", unit="img", disable=not progress):
        try:
            image = decode_image(path.read_bytes())
        except BadImage:
            continue
        faces = detector.detect(image)
        if faces:
            face = max(faces, key=lambda f: f.area)
        else:
            face = Face((0, 0, image.shape[1], image.shape[0]), 0.0)
        start = time.perf_counter()
        vectors.append(embedder.embed(image, [face])[0])
        seconds += time.perf_counter() - start
        labels.append(label)
        detected.append(bool(faces))
    dim = embedder.dim
    return EmbeddedSet(np.array(vectors, np.float32).reshape(-1, dim), np.array(labels), np.array(detected, bool),
                       seconds)


def _sample_gallery(labels: np.ndarray, characters: Sequence[str], shots: int, rng: random.Random) -> np.ndarray:
    idx = []
    for c in characters:
        pool = list(np.flatnonzero(labels == c))
        idx += rng.sample(pool, min(shots, len(pool)))
    return np.array(sorted(idx), int)


def _character_scores(sims: np.ndarray, gallery_labels: np.ndarray, characters: Sequence[str]) -> np.ndarray:
    """(probes, characters): best similarity of each probe to each character's faces."""
    return np.stack([sims[:, gallery_labels == c].max(axis=1) for c in characters], axis=1)


def closed_set(gallery: EmbeddedSet, probes: EmbeddedSet, shots: int, seeds: int = 5) -> dict[str, float]:
    """Mean rank-1 and rank-5 over `seeds` random galleries of `shots` images per character."""
    characters = sorted(set(gallery.labels) & set(probes.labels))
    mask = np.isin(probes.labels, characters)
    p_vec, p_lab = probes.vectors[mask], probes.labels[mask]
    r1, r5 = [], []
    for seed in range(seeds):
        g = _sample_gallery(gallery.labels, characters, shots, random.Random(seed))
        scores = _character_scores(p_vec @ gallery.vectors[g].T, gallery.labels[g], characters)
        order = np.argsort(-scores, axis=1)
        truth = np.array([characters.index(lab) for lab in p_lab])
        rank = np.argmax(order == truth[:, None], axis=1)
        r1.append(float(np.mean(rank < 1)))
        r5.append(float(np.mean(rank < 5)))
    return {
        "rank1": float(np.mean(r1)),
        "rank5": float(np.mean(r5)),
        "probes": int(mask.sum()),
        "characters": len(characters),
    }


def open_set(
    gallery: EmbeddedSet, probes: EmbeddedSet, shots: int, unknown_fraction: float = 0.5, seeds: int = 5
) -> dict[str, object]:
    """Known-probe accuracy and unknown rejection per threshold, averaged over random splits."""
    characters = sorted(set(gallery.labels) & set(probes.labels))
    n_unknown = max(1, round(len(characters) * unknown_fraction))
    known_acc = np.zeros(len(THRESHOLDS))
    rejected = np.zeros(len(THRESHOLDS))
    for seed in range(seeds):
        rng = random.Random(1000 + seed)
        unknown = set(rng.sample(characters, n_unknown))
        known = [c for c in characters if c not in unknown]
        g = _sample_gallery(gallery.labels, known, shots, rng)
        mask = np.isin(probes.labels, characters)
        p_vec, p_lab = probes.vectors[mask], probes.labels[mask]
        scores = _character_scores(p_vec @ gallery.vectors[g].T, gallery.labels[g], known)
        best, top = scores.max(axis=1), np.array(known)[scores.argmax(axis=1)]
        is_known = np.array([lab not in unknown for lab in p_lab])
        correct = top == p_lab
        for i, t in enumerate(THRESHOLDS):
            known_acc[i] += np.mean(correct[is_known] & (best[is_known] >= t))
            rejected[i] += np.mean(best[~is_known] < t)
    known_acc /= seeds
    rejected /= seeds
    balanced = (known_acc + rejected) / 2
    best_i = int(np.argmax(balanced))
    return {
        "suggested_threshold": float(THRESHOLDS[best_i]),
        "known_accuracy": float(known_acc[best_i]),
        "unknown_rejection": float(rejected[best_i]),
        "curve": {
            "threshold": THRESHOLDS.tolist(),
            "known_accuracy": known_acc.tolist(),
            "unknown_rejection": rejected.tolist(),
        },
    }


def rates_at_threshold(result: dict, threshold: float) -> tuple[float, float]:
    """(known accuracy, unknown rejection) of an `open_set` result at a given threshold."""
    curve = result["curve"]
    i = int(np.argmin(np.abs(np.array(curve["threshold"]) - threshold)))
    return curve["known_accuracy"][i], curve["unknown_rejection"][i]


def roc(gallery: EmbeddedSet, probes: EmbeddedSet) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(FAR, TAR, threshold) over all probe × gallery pairs (scikit-learn's ROC curve)."""
    from sklearn.metrics import roc_curve

    sims = (probes.vectors @ gallery.vectors.T).ravel()
    same = (probes.labels[:, None] == gallery.labels[None, :]).ravel()
    return roc_curve(same, sims)


def verification(gallery: EmbeddedSet, probes: EmbeddedSet, fars: Sequence[float] = (1e-2, 1e-3)) -> dict[str, float]:
    """TAR at the given FARs over all probe × gallery pairs."""
    fpr, tpr, _ = roc(gallery, probes)
    return {f"tar@far={far:g}": float(np.interp(far, fpr, tpr)) for far in fars}
