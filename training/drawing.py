"""Drawn anime-style faces: the tests' real images, and the basis of the synthetic data generator.

The faces are simple (hair, face, bangs, big eyes with highlights, mouth) but real enough for
`animeface` to detect them with high likelihood.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

RGB = tuple[int, int, int]


@dataclass(frozen=True)
class CharacterStyle:
    """What makes a drawn character recognisable."""

    hair: RGB = (60, 60, 200)
    eyes: RGB = (40, 160, 60)
    skin: RGB = (250, 225, 205)
    hair_length: float = 0.7  # how far the hair falls below the face centre (face sizes)
    face_width: float = 0.45  # half-width of the face (face sizes)
    bangs: int = 3  # number of fringe strands
    ribbon: RGB | None = None  # an accessory on the hair
    eye_size: float = 1.0  # scale of the eyes
    twintails: bool = False  # two tails of hair beside the face
    ahoge: bool = False  # a single strand sticking up from the top
    glasses: RGB | None = None  # frame colour of round glasses
    hairclip: RGB | None = None  # a clip on the left of the fringe


@dataclass(frozen=True)
class Expression:
    """What changes from one picture of a character to the next (defaults: the neutral smile)."""

    mouth: str = "smile"  # smile | open | flat | frown
    eyes_open: float = 1.0  # 1 open, 0 closed (a line)
    gaze: float = 0.0  # pupils shifted left (-) or right (+), in eye widths
    blush: bool = False


def draw_face(
    canvas: np.ndarray,
    cx: int,
    cy: int,
    size: int,
    style: CharacterStyle = CharacterStyle(),
    expression: Expression = Expression(),
) -> tuple[int, int, int, int]:
    """Draw a face of about `size` pixels centred at (cx, cy) on an RGB canvas, in place.

    Returns the face box (x1, y1, x2, y2): brows to chin, cheek to cheek, where `animeface` puts
    its box (`tests/test_data_tools.py` checks that animeface finds the drawn faces inside it).
    """
    s = size

    def p(x: float, y: float) -> tuple[int, int]:
        return (int(round(cx + x * s)), int(round(cy + y * s)))

    def r(v: float) -> int:
        return max(1, int(round(v * s)))

    if style.twintails:
        for side in (-1, 1):
            cv2.ellipse(canvas, p(0.72 * side, 0.35), (r(0.16), r(0.5)), -15 * side, 0, 360, style.hair, -1)
    if style.ahoge:
        cv2.ellipse(canvas, p(0.08, -0.78), (r(0.1), r(0.18)), 30, 0, 360, style.hair, -1)
    cv2.ellipse(canvas, p(0, -0.1), (r(0.62), r(0.6 + style.hair_length * 0.2)), 0, 0, 360, style.hair, -1)
    if style.hair_length > 0.6:  # long hair falls down both sides
        cv2.rectangle(canvas, p(-0.62, -0.1), p(-0.38, style.hair_length), style.hair, -1)
        cv2.rectangle(canvas, p(0.38, -0.1), p(0.62, style.hair_length), style.hair, -1)
    cv2.ellipse(canvas, p(0, 0.05), (r(style.face_width), r(0.5)), 0, 0, 360, style.skin, -1)
    # Fringe: a zig-zag of `bangs` strands across the forehead.
    xs = np.linspace(-0.55, 0.55, 2 * style.bangs + 1)
    points = [p(-0.55, -0.1), p(-0.3, -0.6), p(0.3, -0.6), p(0.55, -0.1)]
    for i, x in enumerate(xs[::-1]):
        points.append(p(x, -0.1 if i % 2 == 0 else -0.28))
    cv2.fillPoly(canvas, [np.array(points, np.int32)], style.hair)
    if style.ribbon is not None:
        cv2.circle(canvas, p(0.45, -0.45), r(0.12), style.ribbon, -1)
    if style.hairclip is not None:
        cv2.rectangle(canvas, p(-0.42, -0.3), p(-0.3, -0.24), style.hairclip, -1)
    k, e = style.eye_size, expression
    for side in (-1, 1):
        ex, ey = 0.2 * side, 0.08
        if e.eyes_open < 0.25:  # closed: a curved line
            cv2.ellipse(canvas, p(ex, ey), (r(0.1 * k), r(0.04)), 0, 0, 180, (30, 30, 30), r(0.025))
        else:
            o, g = e.eyes_open, e.gaze * 0.04
            cv2.ellipse(canvas, p(ex, ey), (r(0.11 * k), r(0.15 * k * o)), 0, 0, 360, (255, 255, 255), -1)
            cv2.ellipse(canvas, p(ex + g, ey + 0.02), (r(0.09 * k), r(0.13 * k * o)), 0, 0, 360, style.eyes, -1)
            cv2.ellipse(canvas, p(ex + g, ey + 0.03), (r(0.05 * k), r(0.07 * k * o)), 0, 0, 360, (20, 20, 20), -1)
            cv2.circle(canvas, p(ex + g - 0.03, ey - 0.04), r(0.03 * k), (255, 255, 255), -1)
        cv2.line(canvas, p(ex - 0.12, ey - 0.15), p(ex + 0.12, ey - 0.17), (30, 30, 30), r(0.025))
        if e.blush:
            cv2.ellipse(canvas, p(0.28 * side, 0.27), (r(0.07), r(0.03)), 0, 0, 360, (240, 160, 170), -1)
    if style.glasses is not None:
        for side in (-1, 1):
            cv2.circle(canvas, p(0.2 * side, 0.09), r(0.15 * k), style.glasses, r(0.02))
        cv2.line(canvas, p(-0.05, 0.07), p(0.05, 0.07), style.glasses, r(0.02))
    mouth = (150, 60, 60)
    if e.mouth == "open":
        cv2.ellipse(canvas, p(0, 0.36), (r(0.06), r(0.05)), 0, 0, 360, mouth, -1)
    elif e.mouth == "flat":
        cv2.line(canvas, p(-0.05, 0.36), p(0.05, 0.36), mouth, r(0.02))
    elif e.mouth == "frown":
        cv2.ellipse(canvas, p(0, 0.38), (r(0.06), r(0.03)), 0, 180, 360, mouth, r(0.02))
    else:
        cv2.ellipse(canvas, p(0, 0.35), (r(0.06), r(0.03)), 0, 0, 180, mouth, r(0.02))
    return (*p(-0.4, -0.18), *p(0.4, 0.55))


def draw_scene(
    faces: list[tuple[int, int, int, CharacterStyle]],
    size: tuple[int, int] = (700, 400),
    background: RGB = (235, 235, 235),
) -> np.ndarray:
    """An RGB picture (width, height = `size`) with faces given as (cx, cy, size, style)."""
    width, height = size
    canvas = np.empty((height, width, 3), np.uint8)
    canvas[:] = background
    for cx, cy, s, style in faces:
        draw_face(canvas, cx, cy, s, style)
    return canvas
