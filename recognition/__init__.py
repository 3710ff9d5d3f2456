"""kaobot's recognition core: images, detection, embedding, galleries and the `Recognizer` service.

Nothing here knows about Discord.
"""

from __future__ import annotations

import sys
from concurrent.futures import Executor

from .config import Settings, load_settings
from .errors import (
    BackendUnavailable,
    BadImage,
    ConfigError,
    DoubtfulFace,
    DuplicateEnrollment,
    GalleryUnavailable,
    KaobotError,
    ModelFileError,
    NoFaceFound,
    UnknownCharacter,
)
from .faces import Face
from .images import ImageLimits, decode_image
from .service import Enrollment, FaceResult, Identification, Recognizer
from .worker import Busy, InferenceWorker

__all__ = [
    "BackendUnavailable",
    "BadImage",
    "Busy",
    "ConfigError",
    "DoubtfulFace",
    "DuplicateEnrollment",
    "Enrollment",
    "Face",
    "FaceResult",
    "GalleryUnavailable",
    "Identification",
    "ImageLimits",
    "InferenceWorker",
    "KaobotError",
    "ModelFileError",
    "NoFaceFound",
    "Recognizer",
    "Settings",
    "UnknownCharacter",
    "build_recognizer",
    "decode_image",
    "load_settings",
]


def build_recognizer(
    settings: Settings, executor: Executor | None = None, gallery=None, batching: bool = False, review: bool = True
) -> Recognizer:
    """Compose detector, embedder and gallery from the settings (the composition root's helper).

    With `batching`, pictures go through a bounded, batching `InferenceWorker` (settings
    `inference.*`) instead of `executor`; `Recognizer.close()` stops it. With `review`, the review
    queue of the gallery's backend is attached (opened on first use), so forgetting or renaming a
    character updates the pending suggestions too.
    """
    from .detect import build_detector
    from .device import apply_torch_threads, configure_threads
    from .embed import build_embedder
    from .gallery import open_gallery
    from .review import open_review_queue

    configure_threads(settings.inference.compute_threads)
    limits = ImageLimits(max_bytes=settings.limits.max_bytes, max_pixels=settings.limits.max_pixels)
    detector = build_detector(settings.detector)
    embedder = build_embedder(settings.embedder)
    if "torch" in sys.modules:
        apply_torch_threads()
    worker = (
        InferenceWorker(
            detector,
            embedder,
            limits,
            settings.recognition.max_faces,
            settings.inference,
            backends=(settings.detector, settings.embedder),
        )
        if batching
        else None
    )
    gallery = gallery if gallery is not None else open_gallery(settings)
    return Recognizer(
        detector=detector,
        embedder=embedder,
        gallery=gallery,
        settings=settings.recognition,
        limits=limits,
        executor=executor,
        worker=worker,
        review_queue=open_review_queue(settings, gallery) if review else None,
    )
