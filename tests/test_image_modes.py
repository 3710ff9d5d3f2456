"""Every Pillow mode and container people post, made from examples/alice.png at test time:
each decodes to the picture a person sees (compared with the 8-bit RGB original)."""

from __future__ import annotations

import io
import re
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from recognition.errors import BadImage
from recognition.images import BOMB_FACTOR, ImageLimits, decode_image

ALICE_PATH = Path(__file__).resolve().parents[1] / "examples" / "alice.png"


@pytest.fixture(scope="module")
def alice() -> np.ndarray:
    with Image.open(ALICE_PATH) as img:
        return np.asarray(img.convert("RGB")).copy()


def save(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def mean_error(a: np.ndarray, b: np.ndarray) -> float:
    assert a.shape == b.shape
    return float(np.abs(a.astype(np.int32) - b.astype(np.int32)).mean())


def grey_of(rgb: np.ndarray) -> np.ndarray:
    return np.asarray(Image.fromarray(rgb).convert("L"))


def test_16_bit_grey_png_is_scaled_not_clipped(alice):
    grey = grey_of(alice)
    data = save(Image.fromarray(grey.astype(np.uint16) * 257), "PNG")  # I;16, as scanners save
    with Image.open(io.BytesIO(data)) as img:
        assert img.mode == "I;16"
    out = decode_image(data)
    assert mean_error(out, np.dstack([grey] * 3)) < 1.0
    assert (out < 250).mean() > 0.3  # not the white page the clipped conversion gave


@pytest.mark.parametrize("mode", ["I;16B", "I;16L", "I", "F"])
def test_other_wide_grey_modes(alice, mode):
    grey = grey_of(alice)
    if mode == "F":
        img = Image.fromarray(grey.astype(np.float32) / 255.0)  # 0–1 floats
    elif mode == "I":
        img = Image.fromarray(grey.astype(np.int32) * 257)  # 16-bit values in a 32-bit mode
    else:
        order = ">u2" if mode == "I;16B" else "<u2"
        img = Image.frombytes(mode, (grey.shape[1], grey.shape[0]), (grey.astype(order) * 257).tobytes())
    assert img.mode == mode
    from recognition.images import to_rgb

    out = np.asarray(to_rgb(img))
    assert mean_error(out, np.dstack([grey] * 3)) < 1.0


@pytest.mark.parametrize("alpha", [False, True])
def test_16_bit_rgb_png(alice, alpha):
    wide = alice.astype(np.uint16) * 257
    bgr = wide[..., ::-1]
    if alpha:
        bgr = np.dstack([bgr, np.full(alice.shape[:2], 65535, np.uint16)])
    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(bgr))
    assert ok
    data = encoded.tobytes()
    assert data[24] == 16  # IHDR bit depth: really a 16-bit file
    assert mean_error(decode_image(data), alice) < 1.0


def test_palette_with_transparency_becomes_white_background(alice):
    img = Image.fromarray(alice).quantize(63)
    clear = len(img.getpalette()) // 3  # one more palette entry, black, made transparent
    img.putpalette(img.getpalette() + [0, 0, 0])
    img.paste(clear, (0, 0, 40, 40))  # in the top-left corner
    out = decode_image(save(img, "PNG", transparency=clear))
    assert (out[:40, :40] == 255).all()
    assert mean_error(out[100:300, 100:300], alice[100:300, 100:300]) < 12  # 64 colours


def test_la_grey_with_alpha(alice):
    grey = grey_of(alice)
    alpha = np.full(grey.shape, 255, np.uint8)
    alpha[:, :50] = 0
    out = decode_image(save(Image.merge("LA", [Image.fromarray(grey), Image.fromarray(alpha)]), "PNG"))
    assert (out[:, :50] == 255).all()
    assert mean_error(out[:, 50:], np.dstack([grey] * 3)[:, 50:]) < 1.0


def test_cmyk_jpeg_adobe_inverted(alice):
    data = save(Image.fromarray(alice).convert("CMYK"), "JPEG", quality=95)
    with Image.open(io.BytesIO(data)) as img:
        assert img.mode == "CMYK" and "adobe" in img.info  # stored inverted, as Photoshop writes it
    assert mean_error(decode_image(data), alice) < 6


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation(alice, orientation):
    # What a viewer shows for each EXIF orientation value, as a numpy transform of the stored pixels.
    shown = {
        1: lambda a: a,
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.transpose(1, 0, 2),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: a[::-1, ::-1].transpose(1, 0, 2),
        8: lambda a: np.rot90(a, 1),
    }
    stored = alice[:, 10:]  # not square, so a missed rotation changes the shape
    exif = Image.Exif()
    exif[0x0112] = orientation
    out = decode_image(save(Image.fromarray(stored), "PNG", exif=exif.tobytes()))
    assert np.array_equal(out, shown[orientation](stored))


def test_exif_orientation_on_a_jpeg(alice):
    exif = Image.Exif()
    exif[0x0112] = 6
    out = decode_image(save(Image.fromarray(alice[:, 10:]), "JPEG", quality=95, exif=exif.tobytes()))
    assert mean_error(out, np.rot90(alice[:, 10:], -1)) < 4


@pytest.mark.parametrize("fmt", ["GIF", "WEBP", "PNG"])  # PNG: APNG
def test_animations_give_their_first_frame(alice, fmt):
    first = Image.fromarray(alice)
    others = [Image.new("RGB", first.size, colour) for colour in ((0, 0, 255), (255, 0, 0))]
    kw = {"lossless": True} if fmt == "WEBP" else {}
    data = save(first, fmt, save_all=True, append_images=others, duration=100, loop=0, **kw)
    with Image.open(io.BytesIO(data)) as img:
        assert getattr(img, "n_frames", 1) == 3
    out = decode_image(data)
    assert mean_error(out, alice) < (20 if fmt == "GIF" else 1.0)  # GIF: 256 colours


@pytest.mark.parametrize(
    ("data", "said"),
    [
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\0" * 64, "HEIC pictures are not read"),
        (b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1" + b"\0" * 64, "AVIF pictures are not read"),
        (None, "TIFF pictures are not read"),
        (b"this is a text file, not a picture", "not a readable image"),
    ],
)
def test_formats_not_read_say_so_in_plain_words(data, said):
    if data is None:
        data = save(Image.new("RGB", (8, 8)), "TIFF")
    with pytest.raises(BadImage) as caught:
        decode_image(data)
    message = str(caught.value)
    assert said in message and "PNG, JPEG, WebP, GIF and BMP" in message
    assert not re.search(r"0x[0-9a-f]{6,}|<[^>]*object|Traceback", message)


def test_48_megapixel_jpeg_is_scaled_down_while_decoding(alice):
    big = cv2.resize(alice, (8000, 6000), interpolation=cv2.INTER_LINEAR)
    data = save(Image.fromarray(big), "JPEG", quality=85)
    limits = ImageLimits(max_bytes=50 * 2**20)
    out = decode_image(data, limits)
    assert out.shape[0] * out.shape[1] <= limits.max_pixels
    assert abs(out.shape[1] / out.shape[0] - 8000 / 6000) < 0.01
    small = cv2.resize(out, (alice.shape[1], alice.shape[0]), interpolation=cv2.INTER_AREA)
    assert mean_error(small, alice) < 6


def test_jpeg_draft_decodes_a_fraction_of_the_pixels(monkeypatch):
    """A JPEG far above the limit is decoded by libjpeg at a reduced scale (cheap), then fitted."""
    from PIL import JpegImagePlugin

    drafted = []
    original = JpegImagePlugin.JpegImageFile.draft

    def spy(self, mode, size):
        result = original(self, mode, size)
        drafted.append(self.size)
        return result

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", spy)
    data = save(Image.new("RGB", (6000, 4000), (10, 200, 30)), "JPEG")
    out = decode_image(data, ImageLimits(max_pixels=6_000_000))
    assert drafted == [(3000, 2000)]  # decoded at half scale: a quarter of the pixels
    assert out.shape[:2] == (2000, 3000)
    assert abs(int(out[1000, 1500, 1]) - 200) < 6


def test_large_png_is_scaled_down():
    data = save(Image.new("RGB", (3000, 2000), (200, 10, 10)), "PNG")
    out = decode_image(data, ImageLimits(max_pixels=1_500_000))
    assert out.shape[0] * out.shape[1] <= 1_500_000 and out.shape[1] > out.shape[0]


def test_absurd_headers_are_still_refused_unread():
    limits = ImageLimits(max_pixels=1_000_000)
    data = save(Image.new("L", (2100, 2000)), "PNG")  # 4.2 MP > 4 × 1 MP
    assert 2100 * 2000 > BOMB_FACTOR * limits.max_pixels
    with pytest.raises(BadImage, match=r"too large \(2100×2000 pixels; the limit is 4,000,000 pixels\)"):
        decode_image(data, limits)


def test_decoded_array_is_writable_so_torch_does_not_warn():
    """A 1×1 PNG used to print torch's "non-writable NumPy array" warning."""
    data = save(Image.new("RGB", (1, 1), (1, 2, 3)), "PNG")
    out = decode_image(data)
    assert out.flags.writeable and out.flags.c_contiguous
    import torch

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.from_numpy(np.ascontiguousarray(out.transpose(2, 0, 1)))
    assert caught == []
