"""Plain data that flows from the detector to the embedder and out of the service."""

from __future__ import annotations

from dataclasses import dataclass, field

Box = tuple[int, int, int, int]
RGB = tuple[int, int, int]


@dataclass(frozen=True)
class FaceParts:
    """Optional attributes a detector may know about a face (animeface does)."""

    hair_color: RGB | None = None
    skin_color: RGB | None = None
    left_eye: Box | None = None
    right_eye: Box | None = None
    left_eye_color: RGB | None = None
    right_eye_color: RGB | None = None


@dataclass(frozen=True)
class Face:
    """One detected face: a box in the image's pixels (x1, y1, x2, y2), a score and parts."""

    box: Box
    score: float
    parts: FaceParts = field(default_factory=FaceParts)

    @property
    def width(self) -> int:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> int:
        return self.box[3] - self.box[1]

    @property
    def area(self) -> int:
        return max(0, self.width) * max(0, self.height)


def clip_box(box: tuple[float, float, float, float], width: int, height: int) -> Box:
    """Round a box to integer pixels and clip it to the image."""
    x1, y1, x2, y2 = box
    x1 = int(round(min(max(x1, 0), width)))
    y1 = int(round(min(max(y1, 0), height)))
    x2 = int(round(min(max(x2, 0), width)))
    y2 = int(round(min(max(y2, 0), height)))
    return (x1, y1, x2, y2)


def order_left_to_right(faces: list[Face]) -> list[Face]:
    """Faces sorted left to right (then top to bottom), the order users see them numbered."""
    return sorted(faces, key=lambda f: (f.box[0], f.box[1]))
