"""Whole-gallery jobs: copy a gallery between backends, re-embed faces after a model change.

Both work through the `Gallery` interface, so they run on every backend.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field

import numpy as np

from .embed import Embedder
from .errors import BadImage, KaobotError
from .faces import Face, clip_box
from .gallery import FaceRecord, Gallery
from .images import decode_image
from .preprocess import face_box_in_crop
from .service import CROP_MARGIN

log = logging.getLogger(__name__)


@dataclass
class CopySummary:
    faces: int = 0
    scopes: dict[str, int] = field(default_factory=dict)  # scope -> faces copied
    character_infos: int = 0

    def describe(self) -> str:
        return (
            f"copied {self.faces} face(s) in {len(self.scopes)} scope(s) and "
            f"{self.character_infos} character description(s); counts verified"
        )


async def copy_gallery(
    source: Gallery,
    target: Gallery,
    batch_size: int = 500,
    resume: bool = False,
    progress: Callable[[int], None] | None = None,
) -> CopySummary:
    """Copy every face and character description from `source` to `target`, then verify that
    each scope holds as many faces in both. `target` must be empty unless `resume` (a re-run
    after an interruption: adding is idempotent)."""
    if not resume:
        existing = await target.count()
        if existing:
            raise KaobotError(
                f"the destination gallery already holds {existing} face(s); empty it first, "
                "or pass --resume to finish an interrupted copy"
            )
    summary = CopySummary()
    async for batch in source.records(None, batch_size):
        await target.add(batch)
        summary.faces += len(batch)
        for rec in batch:
            summary.scopes[rec.scope] = summary.scopes.get(rec.scope, 0) + 1
        if progress is not None:
            progress(len(batch))
    mismatched = []
    for scope in sorted(summary.scopes):
        for info in await source.characters(scope):
            if info.series or info.link:
                await target.set_character_info(scope, info.name, info.series, info.link)
                summary.character_infos += 1
        want, got = await source.count(scope), await target.count(scope)
        if want != got:
            mismatched.append(f"scope {scope!r}: {want} in the source, {got} in the destination")
    total_source, total_target = await source.count(), await target.count()
    if total_source != total_target:
        mismatched.append(f"all scopes: {total_source} in the source, {total_target} in the destination")
    if mismatched:
        raise KaobotError("the copy is incomplete: " + "; ".join(mismatched))
    return summary


@dataclass
class ReembedSummary:
    faces: int = 0
    reembedded: int = 0
    current: int = 0  # already of the configured model
    without_crop: int = 0  # no usable stored crop: kept as they were (or dropped)
    dropped: int = 0

    def describe(self, model_id: str) -> str:
        text = f"{self.faces} face(s): {self.reembedded} re-embedded with {model_id!r}, {self.current} already current"
        if self.without_crop:
            fate = "dropped" if self.dropped else "left as they were"
            text += f", {self.without_crop} without a usable crop ({fate})"
        return text


def reembed_crop(embedder: Embedder, rec: FaceRecord) -> np.ndarray:
    """The configured embedder's vector of a stored face, from its stored crop. Blocking."""
    if rec.crop is None:
        raise BadImage("no crop stored")
    crop = decode_image(rec.crop)
    height, width = crop.shape[:2]
    if width != height:
        raise BadImage(f"the stored crop is {width}×{height}, not square")
    box = clip_box(face_box_in_crop(rec.box, margin=CROP_MARGIN, size=width), width, height)
    return embedder.embed(crop, [Face(box=box, score=1.0)])[0]


async def reembed_gallery(
    gallery: Gallery,
    embedder: Embedder,
    *,
    batch_size: int = 64,
    drop_without_crop: bool = False,
    executor: Executor | None = None,
    progress: Callable[[int], None] | None = None,
) -> ReembedSummary:
    """Re-embed every face stored under another model id than `embedder.model_id`, from its
    stored crop (see `Recognizer.enroll_analysis`), through `Gallery.rewrite`."""
    summary = ReembedSummary()
    loop = asyncio.get_running_loop()

    def embed_batch(batch: list[FaceRecord]) -> list[FaceRecord | None]:
        out: list[FaceRecord | None] = []
        for rec in batch:
            if rec.model_id == embedder.model_id:
                summary.current += 1
                out.append(rec)
                continue
            try:
                vector = reembed_crop(embedder, rec)
            except (BadImage, ValueError) as exc:
                log.warning("face %s (%r) cannot be re-embedded: %s", rec.id, rec.name, exc)
                summary.without_crop += 1
                out.append(None if drop_without_crop else rec)
                summary.dropped += drop_without_crop
                continue
            summary.reembedded += 1
            out.append(
                FaceRecord(
                    scope=rec.scope,
                    name=rec.name,
                    model_id=embedder.model_id,
                    vector=vector,
                    source_hash=rec.source_hash,
                    box=rec.box,
                    crop=rec.crop,
                    created=rec.created,
                )
            )
        return out

    async def transform(batch: list[FaceRecord]) -> list[FaceRecord | None]:
        return await loop.run_in_executor(executor, embed_batch, batch)

    result = await gallery.rewrite(transform, batch_size=batch_size, progress=progress, dims=embedder.dim)
    summary.faces = result.seen
    return summary
