"""kaobot's recognition core: images, detection, embedding, galleries and the `Recognizer` service.

Nothing here knows about Discord.
"""

from __future__ import annotations

from concurrent.futures import Executor

from .config import Settings, load_settings
from .errors import (
    BackendUnavailable,
    BadImage,
    ConfigError,
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

__all__ = [
    "BackendUnavailable",
    "BadImage",
    "ConfigError",
    "DuplicateEnrollment",
    "Enrollment",
    "Face",
    "FaceResult",
    "GalleryUnavailable",
    "Identification",
    "ImageLimits",
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


def build_recognizer(settings: Settings, executor: Executor | None = None, gallery=None) -> Recognizer:
    """Compose detector, embedder and gallery from the settings (the composition root's helper)."""
    from .detect import build_detector
    from .embed import build_embedder
    from .gallery import open_gallery

    limits = ImageLimits(max_bytes=settings.limits.max_bytes, max_pixels=settings.limits.max_pixels)
    return Recognizer(
        detector=build_detector(settings.detector),
        embedder=build_embedder(settings.embedder),
        gallery=gallery if gallery is not None else open_gallery(settings),
        settings=settings.recognition,
        limits=limits,
        executor=executor,
    )
