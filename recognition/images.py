"""Safe decoding of untrusted image bytes into RGB arrays.

Every failure (corrupt, truncated, unsupported, too many bytes or pixels) raises `BadImage` with a
message written for a person: no library detail, no object reprs (the detail is logged).

Pictures with more than `ImageLimits.max_pixels` pixels are scaled down while decoding (JPEG:
libjpeg's DCT scaling via `draft()`, then `reduce`/resize), so a 48 MP phone photo costs little;
only headers above `BOMB_FACTOR` × that (decompression bombs) are refused, before any pixel is
decoded. Every Pillow mode of the readable formats becomes 8-bit RGB: 16- and 32-bit grey are
scaled (not clipped), transparency is composited onto white, CMYK (Adobe-inverted too) is
converted, EXIF orientation is applied, animations give their first frame.
"""

from __future__ import annotations

import hashlib
import io
import logging
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import BadImage

log = logging.getLogger(__name__)

ALLOWED_FORMATS = frozenset({"PNG", "JPEG", "WEBP", "GIF", "BMP"})
READABLE = "PNG, JPEG, WebP, GIF and BMP"
# File name suffixes of those formats: what a folder walk (import, evaluation) treats as a picture.
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp"})
# Headers with more than BOMB_FACTOR × max_pixels pixels are refused unread; below that a picture
# is decoded and scaled down to max_pixels.
BOMB_FACTOR = 4
_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
# ISO-BMFF brands of formats people post that Pillow does not read (iPhone photos, AVIF).
_UNREAD_BRANDS = {b"heic": "HEIC", b"heix": "HEIC", b"mif1": "HEIF", b"msf1": "HEIF", b"avif": "AVIF"}


@dataclass(frozen=True)
class ImageLimits:
    """Limits applied before and while decoding (settings `limits.*`)."""

    max_bytes: int = 25 * 1024 * 1024
    max_pixels: int = 40_000_000  # larger pictures are scaled down to this; above BOMB_FACTOR × it, refused

    @property
    def max_header_pixels(self) -> int:
        return BOMB_FACTOR * self.max_pixels


def image_hash(data: bytes) -> str:
    """Stable content hash of the raw bytes (identifies a source picture)."""
    return hashlib.sha256(data).hexdigest()


def human_bytes(n: int) -> str:
    """`26214400` → `25 MiB`."""
    if n < 1024:
        return f"{n} bytes"
    if n < 1024**2:
        return f"{n / 1024:.3g} KiB"
    return f"{n / 1024**2:.3g} MiB"


def decode_image(data: bytes, limits: ImageLimits | None = None) -> np.ndarray:
    """Decode bytes (PNG and APNG, JPEG, WebP, GIF, BMP; animations: the first frame) to an RGB
    uint8 array (H, W, 3) of at most `limits.max_pixels` pixels. See the module docstring."""
    limits = limits or ImageLimits()
    if not data:
        raise BadImage("the file is empty")
    if len(data) > limits.max_bytes:
        raise BadImage(f"the file is too large ({human_bytes(len(data))}; the limit is {human_bytes(limits.max_bytes)})")
    try:
        with warnings.catch_warnings():
            # The pixel count is checked below, against our own limit; Pillow's warning is not for users.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                rgb = _decode_open(img, limits)
    except BadImage:
        raise
    except Image.DecompressionBombError as exc:
        log.info("picture refused by Pillow's bomb check: %s", exc)
        raise BadImage(f"the image is too large (the limit is {limits.max_header_pixels:,} pixels)") from None
    except UnidentifiedImageError:
        raise BadImage(_unidentified(data)) from None
    except (OSError, ValueError, SyntaxError, EOFError, MemoryError, IndexError, TypeError, KeyError) as exc:
        log.info("picture could not be decoded: %s: %s", type(exc).__name__, exc)
        raise BadImage("the image is corrupt or truncated") from None
    # A writable copy: a read-only array handed to torch makes it print a warning (seen on 1×1 pictures).
    return np.array(rgb, dtype=np.uint8, order="C", copy=True)


def _decode_open(img: Image.Image, limits: ImageLimits) -> Image.Image:
    if img.format not in ALLOWED_FORMATS:
        raise BadImage(f"{img.format or 'this'} pictures are not read (kaobot reads {READABLE})")
    width, height = img.size
    if width <= 0 or height <= 0:
        raise BadImage("the image has no pixels")
    if width * height > limits.max_header_pixels:
        raise BadImage(
            f"the image is too large ({width}×{height} pixels; the limit is {limits.max_header_pixels:,} pixels)"
        )
    img.seek(0)  # first frame of an animation
    target = fit_size((width, height), limits.max_pixels)
    if img.format == "JPEG" and target != (width, height):
        img.draft(None, target)  # libjpeg decodes at 1/2, 1/4 or 1/8 scale, never below `target`
    img.load()
    img = ImageOps.exif_transpose(img)
    rgb = to_rgb(img)
    size = fit_size(rgb.size, limits.max_pixels)
    if size != rgb.size:
        rgb = rgb.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)  # `reduce` by whole factors first
    return rgb


def fit_size(size: tuple[int, int], max_pixels: int) -> tuple[int, int]:
    """`size` scaled down (aspect kept) to at most `max_pixels` pixels; unchanged when it fits."""
    width, height = size
    if width * height <= max_pixels:
        return size
    scale = (max_pixels / (width * height)) ** 0.5
    w, h = max(1, int(width * scale)), max(1, int(height * scale))
    while w * h > max_pixels:  # rounding
        w, h = max(1, w - 1), max(1, h - 1)
    return w, h


def _unidentified(data: bytes) -> str:
    if data[4:8] == b"ftyp" and data[8:12] in _UNREAD_BRANDS:
        kind = _UNREAD_BRANDS[data[8:12]]
        return f"{kind} pictures are not read (kaobot reads {READABLE}); please convert it first"
    if data[:4] in (b"II*\0", b"MM\0*"):
        return f"TIFF pictures are not read (kaobot reads {READABLE})"
    return f"not a readable image (kaobot reads {READABLE})"


def to_rgb(img: Image.Image) -> Image.Image:
    """Any Pillow mode as 8-bit RGB: high bit depths scaled, transparency composited onto white."""
    if img.mode == "RGB":
        return img
    if img.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        return Image.fromarray(_grey_to_8bit(img)).convert("RGB")
    if img.mode in _ALPHA_MODES or (img.mode in ("P", "L", "RGB") and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")  # L, 1, P, CMYK (Pillow undoes Adobe's inversion), YCbCr, RGBX, HSV


def _grey_to_8bit(img: Image.Image) -> np.ndarray:
    """16-bit, 32-bit integer and float grey to uint8 by the depth the values use (not clipped)."""
    if img.mode.startswith("I;16"):
        values = np.asarray(img).astype(np.float32)  # Pillow gives the native-order uint16 values
        return np.round(values / 257.0).astype(np.uint8)
    values = np.asarray(img, dtype=np.float64)
    top = float(values.max()) if values.size else 0.0
    low = float(values.min()) if values.size else 0.0
    if img.mode == "F" and low >= 0.0 and top <= 1.0:
        scale = 255.0  # 0–1 floats
    elif low >= 0.0 and top <= 255.0:
        scale = 1.0  # 8-bit values in a wide mode
    elif low >= 0.0 and top <= 65535.0:
        scale = 255.0 / 65535.0  # 16-bit values (PNG 16-bit grey opens as "I" in some Pillow versions)
    else:
        values = values - low
        scale = 255.0 / max(top - low, 1e-12)
    return np.clip(np.round(values * scale), 0, 255).astype(np.uint8)


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
