"""Safe decoding of untrusted image bytes into RGB arrays.

Every failure (corrupt, truncated, unsupported, too many bytes or pixels) raises `BadImage`.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import BadImage

ALLOWED_FORMATS = frozenset({"PNG", "JPEG", "WEBP", "GIF", "BMP"})


@dataclass(frozen=True)
class ImageLimits:
    """Limits applied before and while decoding."""

    max_bytes: int = 25 * 1024 * 1024
    max_pixels: int = 40_000_000


def image_hash(data: bytes) -> str:
    """Stable content hash of the raw bytes (identifies a source picture)."""
    return hashlib.sha256(data).hexdigest()


def decode_image(data: bytes, limits: ImageLimits | None = None) -> np.ndarray:
    """Decode bytes (PNG, JPEG, WebP, GIF first frame, BMP) to an RGB uint8 array (H, W, 3).

    EXIF orientation is applied. Headers are checked against `limits.max_pixels` before any
    pixel is decoded, so a decompression bomb costs nothing.
    """
    limits = limits or ImageLimits()
    if not data:
        raise BadImage("the file is empty")
    if len(data) > limits.max_bytes:
        raise BadImage(f"the file is too large ({len(data)} bytes; the limit is {limits.max_bytes})")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                if img.format not in ALLOWED_FORMATS:
                    raise BadImage(f"unsupported image format {img.format!r}")
                width, height = img.size
                if width <= 0 or height <= 0:
                    raise BadImage("the image has no pixels")
                if width * height > limits.max_pixels:
                    raise BadImage(
                        f"the image is too large ({width}x{height} pixels; the limit is {limits.max_pixels} pixels)"
                    )
                img.seek(0)  # first frame of an animation
                img.load()
                img = ImageOps.exif_transpose(img)
                rgb = _to_rgb(img)
    except BadImage:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise BadImage(f"not a readable image: {exc}") from exc
    except (OSError, ValueError, SyntaxError, EOFError, MemoryError) as exc:
        raise BadImage(f"the image is corrupt or truncated: {exc}") from exc
    return np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8))


def _to_rgb(img: Image.Image) -> Image.Image:
    """Convert any mode to RGB, compositing transparency onto white."""
    if img.mode == "RGB":
        return img
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")


def encode_jpeg(image: np.ndarray, quality: int = 90) -> bytes:
    """Encode an RGB array as JPEG bytes."""
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def encode_png(image: np.ndarray) -> bytes:
    """Encode an RGB array as PNG bytes."""
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG", optimize=False)
    return buf.getvalue()
