"""Property-based fuzzing of every path untrusted bytes take: the only outcomes are a result or
the clean error type. `KAOBOT_FUZZ_EXAMPLES` raises the example counts for long runs."""

import io
import os

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from recognition import BadImage, build_recognizer
from recognition.config import Settings
from recognition.images import ImageLimits, decode_image
from tools.cli import main

from .conftest import ALICE, png

EXAMPLES = int(os.environ.get("KAOBOT_FUZZ_EXAMPLES", "300"))
LIMITS = ImageLimits(max_bytes=2_000_000, max_pixels=4_000_000)


def _seeds() -> list[bytes]:
    base = Image.fromarray(np.random.default_rng(0).integers(0, 255, (24, 32, 3), dtype=np.uint8))
    out = []
    for fmt, kw in [("PNG", {}), ("JPEG", {"quality": 80}), ("WEBP", {}), ("GIF", {}), ("BMP", {})]:
        buf = io.BytesIO()
        base.save(buf, format=fmt, **kw)
        out.append(buf.getvalue())
    return out


SEEDS = _seeds()


@st.composite
def mutated_images(draw) -> bytes:
    """A valid small picture with random byte flips, truncation, or inserted junk."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(0, 8))):
        pos = draw(st.integers(0, len(data) - 1))
        data[pos] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    if draw(st.booleans()):
        pos = draw(st.integers(0, len(data)))
        data[pos:pos] = draw(st.binary(max_size=64))
    return bytes(data)


def _decode_outcome(data: bytes) -> None:
    try:
        out = decode_image(data, LIMITS)
    except BadImage:
        return
    assert out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] == 3
    assert out.shape[0] * out.shape[1] <= LIMITS.max_pixels


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4096))
def test_decoder_on_random_bytes(data):
    _decode_outcome(data)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_images())
def test_decoder_on_mutated_pictures(data):
    _decode_outcome(data)


@settings(max_examples=max(20, EXAMPLES // 10), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_images())
def test_service_on_mutated_pictures(data):
    """The whole recognition path (decode, detect, embed, gallery) on hostile bytes."""
    import asyncio
    import tempfile

    async def run():
        with tempfile.TemporaryDirectory() as tmp:
            s = Settings()
            s.data_dir = tmp
            rec = build_recognizer(s)
            try:
                result = await rec.identify(data, "g")
                assert all(f.name is None for f in result.faces)
            except BadImage:
                pass
            finally:
                await rec.close()

    asyncio.run(run())


_ALICE = png([(200, 200, 170, ALICE)])


@settings(max_examples=max(20, EXAMPLES // 10), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, len(_ALICE) - 1), st.binary(min_size=1, max_size=16))
def test_cli_whois_on_damaged_pictures(tmp_path_factory, position, junk):
    """`kaobot whois --json` either answers with one JSON object or fails with one clear line."""
    import contextlib
    import json

    tmp = tmp_path_factory.mktemp("fuzz")
    path = tmp / "damaged.png"
    path.write_bytes(_ALICE[:position] + junk + _ALICE[position + len(junk) :])
    out, err = io.StringIO(), io.StringIO()
    os.environ["KAOBOT_DATA_DIR"] = str(tmp / "data")
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["whois", str(path), "--json"])
    finally:
        del os.environ["KAOBOT_DATA_DIR"]
    if code == 0:
        assert set(json.loads(out.getvalue())) == {"faces"}
    else:
        assert code == 1 and out.getvalue() == ""
        assert len(err.getvalue().strip().splitlines()) == 1 and err.getvalue().startswith("kaobot: error:")
