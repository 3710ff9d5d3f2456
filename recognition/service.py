"""`Recognizer`: the one entry point of the CLI and the bot.

bytes → image → faces → embeddings → gallery → answer. The CPU-heavy part (`analyse`) runs in an
executor; the gallery is awaited on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .annotate import draw_numbered_boxes
from .config import RecognitionSettings
from .detect import Detector
from .embed import Embedder
from .embed.base import model_threshold
from .errors import DoubtfulFace, DuplicateEnrollment, NoFaceFound
from .faces import Box, Face
from .gallery import Candidate, CharacterInfo, FaceRecord, Gallery, clean_name
from .images import ImageLimits, encode_jpeg, image_hash
from .pipeline import Analysis, analyse_batch
from .preprocess import crop_face
from .worker import InferenceWorker

if TYPE_CHECKING:
    from .review import ReviewQueue

log = logging.getLogger(__name__)

CROP_MARGIN = 0.5  # context kept around a stored face, for re-embedding with another model
CROP_SIZE = 192


@dataclass(frozen=True)
class FaceResult:
    """What kaobot says about one face."""

    number: int
    box: Box
    detection_score: float
    name: str | None
    similarity: float | None
    candidates: list[Candidate] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "box": list(self.box),
            "detection_score": round(self.detection_score, 4),
            "name": self.name,
            "similarity": None if self.similarity is None else round(self.similarity, 4),
            "candidates": [{"name": c.name, "similarity": round(c.similarity, 4)} for c in self.candidates],
        }

    @property
    def match(self) -> Candidate | None:
        """The candidate the face is named after (not always the first: see `assign_names`)."""
        if self.name is None:
            return None
        return next((c for c in self.candidates if c.name == self.name), None)


@dataclass(frozen=True)
class Identification:
    """All faces of a picture, numbered left to right."""

    image: np.ndarray
    faces: list[FaceResult]
    source_hash: str | None = None  # of the picture, and each face's vector: what a correction needs
    vectors: np.ndarray | None = None

    def to_json(self) -> dict[str, Any]:
        return {"faces": [f.to_json() for f in self.faces]}

    def annotated(self) -> np.ndarray:
        return draw_numbered_boxes(self.image, [f.box for f in self.faces], [f.name is not None for f in self.faces])


@dataclass(frozen=True)
class Enrollment:
    """A face stored for a character."""

    name: str
    scope: str
    face_number: int
    box: Box
    face_id: str
    faces_in_picture: int
    detection_score: float = 0.0
    crop: bytes = b""  # JPEG of the enrolled face with context (what is stored), to show which face it was


class Recognizer:
    """Detect, embed, search and enrol; see the module docstring."""

    def __init__(
        self,
        detector: Detector,
        embedder: Embedder,
        gallery: Gallery,
        settings: RecognitionSettings | None = None,
        limits: ImageLimits | None = None,
        executor: Executor | None = None,
        worker: InferenceWorker | None = None,
        review_queue: ReviewQueue | None = None,
    ) -> None:
        self.detector = detector
        self.embedder = embedder
        self.gallery = gallery
        self.settings = settings or RecognitionSettings()
        self.limits = limits or ImageLimits()
        self.executor = executor
        self.worker = worker
        self.review_queue = review_queue  # members' suggestions (recognition.review); forget/rename keep it in step

    async def close(self) -> None:
        """Stop the worker (if any), close the review queue (if any) and the gallery."""
        if self.worker is not None:
            await self.worker.close()
        if self.review_queue is not None:
            await self.review_queue.close()
        await self.gallery.close()

    async def __aenter__(self) -> Recognizer:
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.close()

    @property
    def model_id(self) -> str:
        return self.embedder.model_id

    @property
    def threshold(self) -> float:
        """Similarity below which a face is "unknown": `recognition.threshold` when set, else the
        threshold the embedder's model file carries."""
        configured = self.settings.threshold
        return model_threshold(self.embedder) if configured is None else configured

    # -- CPU work (thread-safe, blocking) -------------------------------------------------------
    def analyse(self, data: bytes, embed: bool = True) -> Analysis:
        """Decode, detect (at most `max_faces`, the largest) and embed. Blocking."""
        (result,) = analyse_batch([data], self.detector, self.embedder, self.limits, self.settings.max_faces, embed)
        if isinstance(result, Exception):
            raise result
        return result

    async def analyse_async(self, data: bytes, embed: bool = True) -> Analysis:
        """`analyse` off the event loop (the worker, else the executor); callers may inspect the faces
        before `enroll_analysis` or `identify_analysis` (the bot lets an admin pick a face)."""
        if self.worker is not None:
            return await self.worker.submit(data, embed)
        return await asyncio.get_running_loop().run_in_executor(self.executor, self.analyse, data, embed)

    # -- the service -----------------------------------------------------------------------------
    async def detect(self, data: bytes) -> Analysis:
        """Faces only (no embedding, no gallery)."""
        return await self.analyse_async(data, embed=False)

    async def identify(self, data: bytes, scope: str, top_k: int | None = None) -> Identification:
        """Every face of the picture with its best character (or `None` below the threshold)."""
        analysis = await self.analyse_async(data)
        return await self.identify_analysis(analysis, scope, top_k)

    async def identify_analysis(self, analysis: Analysis, scope: str, top_k: int | None = None) -> Identification:
        """Search the gallery for the faces of an analysed picture."""
        k = max(1, top_k or self.settings.top_k)
        hits = await self.gallery.search(analysis.vectors, scope, self.model_id, k) if analysis.faces else []
        names = assign_names(hits, self.threshold, self.settings.one_name_per_picture)
        results = []
        for number, (face, candidates, name) in enumerate(zip(analysis.faces, hits, names), start=1):
            chosen = next((c for c in candidates if c.name == name), None)
            best = chosen or (candidates[0] if candidates else None)
            results.append(
                FaceResult(
                    number=number,
                    box=face.box,
                    detection_score=face.score,
                    name=name,
                    similarity=best.similarity if best else None,
                    candidates=candidates,
                )
            )
        return Identification(
            image=analysis.image, faces=results, source_hash=analysis.source_hash, vectors=analysis.vectors
        )

    async def enroll(self, name: str, data: bytes, scope: str, face: int | None = None) -> Enrollment:
        """Store one face of the picture for `name`: face number `face` (1-based, left to right),
        else the one `choose_enrolment_face` picks. The same picture is refused twice for the same name."""
        name = clean_name(name)
        source = image_hash(data)
        if await self.gallery.has_source(scope, name, self.model_id, source):
            raise DuplicateEnrollment(f"this picture is already enrolled for {name!r}")
        analysis = await self.analyse_async(data)
        return await self.enroll_analysis(name, analysis, scope, face)

    async def enroll_analysis(self, name: str, analysis: Analysis, scope: str, face: int | None = None) -> Enrollment:
        """Store a face of an already analysed picture (see `enroll`)."""
        name = clean_name(name)
        faces = analysis.faces
        if not faces:
            raise NoFaceFound("no face was found in the picture")
        if face is None:
            index = choose_enrolment_face(faces, self.settings.enroll_min_score)
        elif 1 <= face <= len(faces):
            index = face - 1
        else:
            raise NoFaceFound(f"the picture has {len(faces)} face(s): choose a face number from 1 to {len(faces)}")
        if await self.gallery.has_source(scope, name, self.model_id, analysis.source_hash):
            raise DuplicateEnrollment(f"this picture is already enrolled for {name!r}")
        chosen = faces[index]
        crop = face_crop(analysis.image, chosen.box)
        fid = await self.enroll_face(name, scope, analysis.vectors[index], analysis.source_hash, chosen.box, crop)
        return Enrollment(name, scope, index + 1, chosen.box, fid, len(faces), chosen.score, crop)

    async def enroll_face(
        self, name: str, scope: str, vector: np.ndarray, source_hash: str, box: Box, crop: bytes
    ) -> str:
        """Store one face (a vector of the configured embedder, with its `face_crop`); returns its id.
        The path of every enrolment: `enroll_analysis` and approved suggestions (`recognition.review`)."""
        name = clean_name(name)
        if await self.gallery.has_source(scope, name, self.model_id, source_hash):
            raise DuplicateEnrollment(f"this picture is already enrolled for {name!r}")
        record = FaceRecord(
            scope=scope, name=name, model_id=self.model_id, vector=vector, source_hash=source_hash, box=box, crop=crop
        )
        (fid,) = await self.gallery.add([record])
        log.info("enrolled a face for %r in scope %s", name, scope)
        return fid

    async def forget(self, name: str, scope: str) -> int:
        """Delete a character's faces, and the pending suggestions that name it."""
        removed = await self.gallery.forget(scope, name)
        if self.review_queue is not None:
            await self.review_queue.drop_name(scope, name)
        return removed

    async def rename(self, old: str, new: str, scope: str) -> int:
        moved = await self.gallery.rename(scope, old, new)
        if self.review_queue is not None:
            await self.review_queue.rename(scope, old, new)
        return moved

    async def characters(self, scope: str) -> list[CharacterInfo]:
        return await self.gallery.characters(scope)

    async def stale_models(self, scope: str | None = None) -> dict[str, int]:
        """Faces stored with another embedder than the configured one (they need re-embedding)."""
        return {m: n for m, n in (await self.gallery.model_ids(scope)).items() if m != self.model_id}

    async def stale_notice(self, scope: str | None = None) -> str | None:
        """The re-embedding notice when the gallery holds faces of another embedder (e.g. after an
        upgrade changed the default model), else None."""
        stale = await self.stale_models(scope)
        if not stale:
            return None
        listed = ", ".join(f"{n} face(s) of model {m!r}" for m, n in sorted(stale.items()))
        return (
            f"the gallery holds {listed}, but the configured embedder is {self.model_id!r}; "
            "those faces are not searched. Re-embed them with `kaobot gallery reembed`."
        )


def face_crop(image: np.ndarray, box: Box) -> bytes:
    """The JPEG stored with a face: the face with context, for display and re-embedding."""
    return encode_jpeg(crop_face(image, box, margin=CROP_MARGIN, size=CROP_SIZE), quality=90)


def choose_enrolment_face(faces: Sequence[Face], min_score: float) -> int:
    """Index of the face to enrol when none was named: among faces scored at least `min_score`, the
    best by score × side (so a false detection near the detector's threshold loses to a real face
    even when slightly larger). `DoubtfulFace` when every face is below `min_score`: enrolling a
    false detection would teach a wrong "face" for good, so the user must choose it by number."""
    confident = [i for i, f in enumerate(faces) if f.score >= min_score]
    if not confident:
        best = max(f.score for f in faces)
        what = "the only face I found is" if len(faces) == 1 else f"all {len(faces)} faces I found are"
        raise DoubtfulFace(
            f"{what} doubtful (detection score {best:.2f}, below {min_score:.2f}), so nothing was enrolled"
        )
    return max(confident, key=lambda i: faces[i].score * faces[i].area**0.5)


def assign_names(hits: Sequence[Sequence[Candidate]], threshold: float, one_per_picture: bool = True) -> list[str | None]:
    """The name of each face (`None`: unknown) from its candidates, best first.

    With `one_per_picture`, a character names at most one face: pairs (face, candidate) at or above
    the threshold are taken greedily from the most similar down, so the face most like Alice is
    Alice and another face that also looked most like Alice gets its next candidate above the
    threshold, or stays unknown. Without it, each face takes its best candidate."""
    if not one_per_picture:
        return [row[0].name if row and row[0].similarity >= threshold else None for row in hits]
    pairs = sorted(
        ((c.similarity, face, rank, c.name) for face, row in enumerate(hits) for rank, c in enumerate(row)),
        key=lambda p: (-p[0], p[1], p[2]),
    )
    names: list[str | None] = [None] * len(hits)
    taken: set[str] = set()
    for similarity, face, _, name in pairs:
        if similarity < threshold:
            break
        if names[face] is None and name not in taken:
            names[face] = name
            taken.add(name)
    return names


def faces_to_json(faces: Sequence[Face]) -> dict[str, Any]:
    """`detect --json` output."""
    return {"faces": [{"box": list(f.box), "score": round(f.score, 4)} for f in faces]}


def enrollment_to_json(e: Enrollment) -> dict[str, Any]:
    return {k: v for k, v in asdict(e).items() if k != "crop"} | {"box": list(e.box)}
