"""Online evaluation: does kaobot get better where it failed, when members correct it?

Protocol (what `kaobot eval online` reports):

* `--shots` pictures per character (of the characters that have probes), drawn with
  `random.Random(seed)` from the gallery folder, are enrolled in an empty scope (through
  `Recognizer.enroll_face`, the path of every enrolment);
* the probe pictures are replayed as a stream of posts, in an order shuffled by another
  `random.Random(seed)`. Each is answered by `Recognizer.identify_analysis` (largest face; the whole picture when
  no face is found, as in `recognition_eval`); an answer is right when it names the probe's
  character (similarity at or above the recognizer's threshold: `recognition.threshold`, else the model's), wrong when it names another or
  says "unknown";
* each wrong answer is corrected as a member and an admin would: `ReviewDesk.suggest` with the
  true name, then `ReviewDesk.approve`, which enrols that face;
* `static_rank1`: every probe answered by the initial gallery; `online_rank1`: the stream's
  answers; `online_rank1_second_half`: the answers of the stream's second half. `corrections` is
  the number of approved suggestions, `gallery_growth` the faces they added.
"""

from __future__ import annotations

import asyncio
import random
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from recognition.config import RecognitionSettings, ReviewSettings
from recognition.detect import Detector
from recognition.embed import Embedder
from recognition.errors import BadImage
from recognition.faces import Face
from recognition.gallery.sqlite import SQLiteGallery
from recognition.images import decode_image, image_hash
from recognition.pipeline import Analysis
from recognition.review.service import FaceEvidence, ReviewDesk
from recognition.review.sqlite import SQLiteReviewQueue
from recognition.service import Recognizer, face_crop

SCOPE = "online-eval"
MEMBERS = 7  # corrections come from a few different members (the rate limit is lifted for the replay)


@dataclass(frozen=True)
class Picture:
    label: str
    analysis: Analysis  # one face; `image` is a 1×1 placeholder (answers need only the vector)
    evidence: FaceEvidence


def embed_pictures(
    items: Sequence[tuple[Path, str]], detector: Detector, embedder: Embedder, progress: bool = False
) -> list[Picture]:
    """The largest face of each picture (the whole picture when none is found), with its crop."""
    from tqdm import tqdm

    out = []
    for path, label in tqdm(items, desc="embed", unit="img", disable=not progress):
        data = path.read_bytes()
        try:
            image = decode_image(data)
        except BadImage:
            continue
        faces = detector.detect(image)
        face = max(faces, key=lambda f: f.area) if faces else Face((0, 0, image.shape[1], image.shape[0]), 0.0)
        vector = np.asarray(embedder.embed(image, [face])[0], np.float32)
        source = image_hash(data)
        evidence = FaceEvidence(1, face.box, vector, face_crop(image, face.box), source, embedder.model_id, None)
        analysis = Analysis(np.zeros((1, 1, 3), np.uint8), source, [face], vector[None, :])
        out.append(Picture(label, analysis, evidence))
    return out


async def _answers(recognizer: Recognizer, pictures: Sequence[Picture]) -> list[str | None]:
    names = []
    for p in pictures:
        (face,) = (await recognizer.identify_analysis(p.analysis, SCOPE)).faces
        names.append(face.name)
    return names


def draw_gallery(items: Sequence, labels: Sequence[str], shots: int, seed: int) -> list:
    """`shots` items per label (sorted labels), drawn with `random.Random(seed)`."""
    rng = random.Random(seed)
    chosen = []
    for c in sorted(set(labels)):
        pool = [item for item, label in zip(items, labels) if label == c]
        chosen += rng.sample(pool, min(shots, len(pool)))
    return chosen


async def replay(
    enrolled: Sequence[Picture],
    probes: Sequence[Picture],
    detector: Detector,
    embedder: Embedder,
    threshold: float,
    shots: int = 1,
    seed: int = 0,
    workdir: str | Path | None = None,
) -> dict:
    """Enrol `enrolled`, replay `probes` (of the enrolled characters) in an order shuffled by
    `random.Random(seed)`; returns the report with the outcome of every post."""
    characters = sorted({p.label for p in enrolled} & {p.label for p in probes})
    stream = [p for p in probes if p.label in set(characters)]
    random.Random(seed).shuffle(stream)
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        recognizer = Recognizer(
            detector,
            embedder,
            SQLiteGallery(Path(tmp) / "gallery.sqlite3"),
            RecognitionSettings(threshold=threshold),
            review_queue=SQLiteReviewQueue(Path(tmp) / "review.sqlite3"),
        )
        async with recognizer:
            desk = ReviewDesk(
                recognizer, recognizer.review_queue, ReviewSettings(member_limit=10**9, max_pending=10**9)
            )
            for p in enrolled:
                await recognizer.enroll_face(p.label, SCOPE, p.evidence.vector, p.evidence.source_hash,
                                             p.evidence.box, p.evidence.crop)  # fmt: skip
            initial = await recognizer.gallery.count(SCOPE)
            static = [name == p.label for name, p in zip(await _answers(recognizer, stream), stream)]
            online, corrections = [], 0
            for i, p in enumerate(stream):
                (name,) = await _answers(recognizer, [p])
                online.append(name == p.label)
                if name != p.label:
                    evidence = replace(p.evidence, answer=name)
                    s = await desk.suggest(SCOPE, evidence, p.label, suggester=f"member-{i % MEMBERS}")
                    decision = await desk.approve(SCOPE, s.id, by="eval-admin")
                    corrections += decision.changed
            final = await recognizer.gallery.count(SCOPE)
    half = len(stream) // 2
    static_a, online_a = np.array(static, float), np.array(online, float)
    return {
        "static_rank1": float(static_a.mean()),
        "online_rank1": float(online_a.mean()),
        "online_rank1_second_half": float(online_a[half:].mean()),
        "corrections": corrections,
        "gallery_growth": final - initial,
        "static_rank1_second_half": float(static_a[half:].mean()),
        "errors": {
            "static": int(len(stream) - static_a.sum()),
            "static_second_half": int(len(stream) - half - static_a[half:].sum()),
            "online_second_half": int(len(stream) - half - online_a[half:].sum()),
        },
        "gallery_initial": initial,
        "gallery_final": final,
        "probes": len(stream),
        "characters": len(characters),
        "shots": shots,
        "seed": seed,
        "threshold": threshold,
        "embedder": embedder.model_id,
        "detector": detector.model_id,
        "stream": {"static": [bool(x) for x in static], "online": [bool(x) for x in online]},
    }


def rolling(hits: Sequence[bool], window: int) -> np.ndarray:
    """Mean of the last `window` outcomes at each post (fewer at the start)."""
    a = np.asarray(hits, float)
    csum = np.concatenate([[0.0], np.cumsum(a)])
    idx = np.arange(1, len(a) + 1)
    lo = np.maximum(0, idx - window)
    return (csum[idx] - csum[lo]) / (idx - lo)


def plot_online(report: dict, path: str | Path, window: int = 50) -> Path:
    """Rolling rank-1 over the stream: with corrections, and the initial gallery without them."""
    from training.plots import _pyplot

    plt = _pyplot()
    online, static = report["stream"]["online"], report["stream"]["static"]
    x = np.arange(1, len(online) + 1)
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(x, rolling(online, window), label=f"with corrections (rank-1 {report['online_rank1']:.3f})")
    ax.plot(x, rolling(static, window), label=f"initial gallery only (rank-1 {report['static_rank1']:.3f})", alpha=0.8)
    ax.axvline(len(online) // 2, color="grey", lw=0.8, ls=":")
    ax.set_xlabel("post in the stream")
    ax.set_ylabel(f"rank-1, rolling over {window} posts")
    ax.set_ylim(0, 1)
    ax.set_title(
        f"{report['characters']} characters, {report['shots']} shot(s), seed {report['seed']}: "
        f"{report['corrections']} corrections"
    )
    ax.legend(loc="lower right")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def run(gallery_items, probe_items, detector, embedder, threshold, shots, seed, progress=False) -> dict:
    """Embed only what the protocol uses (the drawn gallery pictures and every probe), then replay."""
    probe_labels = {label for _, label in probe_items}
    gallery_items = [item for item in gallery_items if item[1] in probe_labels]
    chosen = draw_gallery(gallery_items, [label for _, label in gallery_items], shots, seed)
    enrolled = embed_pictures(chosen, detector, embedder, progress)
    probes = embed_pictures(probe_items, detector, embedder, progress)
    return asyncio.run(replay(enrolled, probes, detector, embedder, threshold, shots, seed))
