"""Domain errors: every failure a caller should explain to a person derives from `KaobotError`."""

from __future__ import annotations


class KaobotError(Exception):
    """Base class of the errors kaobot turns into one clear line for the user."""


class BadImage(KaobotError):
    """The bytes are not an image kaobot accepts (corrupt, unsupported, too large)."""


class NoFaceFound(KaobotError):
    """The picture holds no face (or not the face that was asked for)."""


class DoubtfulFace(NoFaceFound):
    """The only face(s) found for an enrolment are doubtful detections; the user must choose one by number."""


class ModelFileError(KaobotError):
    """A model file is missing, unreadable or not in the expected format."""


class BackendUnavailable(KaobotError):
    """A configured backend cannot run here (for example a package without a wheel)."""


class GalleryUnavailable(KaobotError):
    """The gallery cannot be reached or did not answer in time."""


class UnknownCharacter(KaobotError):
    """No character of that name is enrolled in the scope."""


class DuplicateEnrollment(KaobotError):
    """The same picture is already enrolled for the same character."""


class ConfigError(KaobotError):
    """The configuration file is invalid."""


class GalleryWriteError(GalleryUnavailable):
    """Some faces of a write were not stored. `failed` maps each such face id to the reason;
    `stored` lists the ids that were stored (or already present)."""

    def __init__(self, message: str, failed: dict[str, str], stored: list[str] | None = None) -> None:
        super().__init__(message)
        self.failed = dict(failed)
        self.stored = list(stored or [])


class ReviewError(KaobotError):
    """A suggestion cannot be made or decided (unknown id, rate limit, full queue, no face there)."""


class ReviewLimit(ReviewError):
    """A suggestion refused by a limit: the member's rate limit or the scope's cap of pending ones."""


class NoSuchSuggestion(ReviewError):
    """No suggestion with that id in this scope (another scope's id reads the same)."""
