import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from recognition.errors import BadImage
from recognition.images import ImageLimits, decode_image


def _encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "BMP"])
def test_decodes_common_formats_to_rgb(fmt):
    img = Image.new("RGB", (40, 30), (200, 10, 10))
    out = decode_image(_encode(img, fmt))
    assert out.shape == (30, 40, 3) and out.dtype == np.uint8
    assert abs(int(out[15, 20, 0]) - 200) < 10


def test_gif_first_frame():
    frames = [Image.new("RGB", (20, 20), c) for c in [(255, 0, 0), (0, 0, 255)]]
    data = _encode(frames[0], "GIF", save_all=True, append_images=frames[1:])
    out = decode_image(data)
    assert out[10, 10, 0] > 200 and out[10, 10, 2] < 50


def test_exif_orientation_is_applied():
    img = Image.new("RGB", (40, 20), (0, 255, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    out = decode_image(_encode(img, "JPEG", exif=exif.tobytes()))
    assert out.shape[:2] == (40, 20)


def test_transparency_becomes_white():
    img = Image.new("RGBA", (10, 10), (0, 0, 0, 0))
    out = decode_image(_encode(img, "PNG"))
    assert (out == 255).all()


def test_grey_and_palette_images_become_rgb():
    assert decode_image(_encode(Image.new("L", (8, 8), 128), "PNG")).shape == (8, 8, 3)
    assert decode_image(_encode(Image.new("P", (8, 8), 3), "PNG")).shape == (8, 8, 3)


def test_truncated_png():
    data = _encode(Image.new("RGB", (200, 200), (1, 2, 3)), "PNG")
    with pytest.raises(BadImage):
        decode_image(data[: len(data) // 2])


def _png_header_only(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))


def test_decompression_bomb_header_is_refused_before_decoding():
    with pytest.raises(BadImage, match="too large|readable"):
        decode_image(_png_header_only(30000, 30000))


def test_pixel_limit_is_configurable():
    data = _encode(Image.new("RGB", (100, 100)), "PNG")
    assert decode_image(data, ImageLimits(max_pixels=5000)).shape == (70, 70, 3)  # scaled down to fit
    with pytest.raises(BadImage, match="too large"):
        decode_image(data, ImageLimits(max_pixels=2000))  # beyond 4× the limit: refused unread


def test_byte_limit():
    with pytest.raises(BadImage, match="too large"):
        decode_image(b"x" * 2000, ImageLimits(max_bytes=1000))


def test_text_file_named_png(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("this is not a picture")
    with pytest.raises(BadImage):
        decode_image(path.read_bytes())


def test_empty_file():
    with pytest.raises(BadImage, match="empty"):
        decode_image(b"")


def test_unsupported_format_is_refused():
    data = _encode(Image.new("RGB", (8, 8)), "TIFF")
    with pytest.raises(BadImage, match="TIFF pictures are not read"):
        decode_image(data)
