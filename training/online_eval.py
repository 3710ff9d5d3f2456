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

With `--unknown-fraction F`, that fraction of the characters (drawn with `random.Random(1000 + seed)`)
is never enrolled: their posts join the stream as strangers, answered right when "unknown", and
nobody corrects them (the server does not enrol them). The rank-1 figures stay those of the enrolled
characters' posts; `unknown_rejected_static`, `unknown_rejected_online` and
`unknown_rejected_second_half` are the strangers' rates (does learning from corrections name more
strangers as look-alikes?).
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


def draw_unknown(labels: Sequence[str], fraction: float, seed: int) -> set[str]:
    """The characters left out of the gallery: `round(fraction × characters)` of the sorted labels,
    drawn with `random.Random(1000 + seed)`."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"the unknown fraction must be in [0, 1), got {fraction}")
    characters = sorted(set(labels))
    return set(random.Random(1000 + seed).sample(characters, round(len(characters) * fraction)))


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
    strangers: Sequence[Picture] = (),
) -> dict:
    """Enrol `enrolled`, replay `probes` (of the enrolled characters) and `strangers` (posts of
    characters never enrolled) in an order shuffled by `random.Random(seed)`; returns the report with
    the outcome of every post."""
    characters = sorted({p.label for p in enrolled} & {p.label for p in probes})
    if {p.label for p in strangers} & {p.label for p in enrolled}:
        raise ValueError("a stranger's character is enrolled")
    names = set(characters)
    stream = [p for p in probes if p.label in names] + list(strangers)
    random.Random(seed).shuffle(stream)
    known = np.array([p.label in names for p in stream], bool)

    def right(name: str | None, p: Picture) -> bool:
        return name == p.label if p.label in names else name is None

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
            static = [right(name, p) for name, p in zip(await _answers(recognizer, stream), stream)]
            online, corrections = [], 0
            for i, (p, is_known) in enumerate(zip(stream, known)):
                (name,) = await _answers(recognizer, [p])
                online.append(right(name, p))
                if is_known and name != p.label:
                    evidence = replace(p.evidence, answer=name)
                    s = await desk.suggest(SCOPE, evidence, p.label, suggester=f"member-{i % MEMBERS}")
                    decision = await desk.approve(SCOPE, s.id, by="eval-admin")
                    corrections += decision.changed
            final = await recognizer.gallery.count(SCOPE)
    second = np.arange(len(stream)) >= len(stream) // 2
    static_all, online_all = np.array(static, float), np.array(online, float)
    static_a, online_a, half = static_all[known], online_all[known], int((~second[known]).sum())
    unknown = {}
    if len(strangers):
        rejected_static, rejected_online = static_all[~known], online_all[~known]
        unknown = {
            "unknown_rejected_static": float(rejected_static.mean()),
            "unknown_rejected_online": float(rejected_online.mean()),
            "unknown_rejected_second_half": float(online_all[~known & second].mean()),
            "unknown_characters": len({p.label for p in strangers}),
            "unknown_posts": len(strangers),
        }
    return {
        "static_rank1": float(static_a.mean()),
        "online_rank1": float(online_a.mean()),
        "online_rank1_second_half": float(online_a[half:].mean()),
        "corrections": corrections,
        "gallery_growth": final - initial,
        "static_rank1_second_half": float(static_a[half:].mean()),
        "errors": {
            "static": int(len(static_a) - static_a.sum()),
            "static_second_half": int(len(static_a) - half - static_a[half:].sum()),
            "online_second_half": int(len(online_a) - half - online_a[half:].sum()),
        },
        "gallery_initial": initial,
        "gallery_final": final,
        "probes": int(known.sum()),
        "characters": len(characters),
        **unknown,
        "shots": shots,
        "seed": seed,
        "threshold": threshold,
        "embedder": embedder.model_id,
        "detector": detector.model_id,
        "stream": {"static": [bool(x) for x in static_a], "online": [bool(x) for x in online_a]},
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


def run(
    gallery_items, probe_items, detector, embedder, threshold, shots, seed, progress=False, unknown_fraction=0.0
) -> dict:
    """Embed only what the protocol uses (the drawn gallery pictures and every probe), then replay.
    The gallery is drawn as without strangers, so the enrolled characters get the same pictures."""
    probe_labels = {label for _, label in probe_items}
    gallery_items = [item for item in gallery_items if item[1] in probe_labels]
    labels = [label for _, label in gallery_items]
    chosen = draw_gallery(gallery_items, labels, shots, seed)
    unknown = draw_unknown(labels, unknown_fraction, seed)
    enrolled = embed_pictures([item for item in chosen if item[1] not in unknown], detector, embedder, progress)
    posts = embed_pictures(probe_items, detector, embedder, progress)
    probes, strangers = [p for p in posts if p.label not in unknown], [p for p in posts if p.label in unknown]
    return asyncio.run(replay(enrolled, probes, detector, embedder, threshold, shots, seed, strangers=strangers))
