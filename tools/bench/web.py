"""What `POST /api/whois` of `kaobot web` adds to the service's own `Recognizer.identify`.

Both run the same recognizer (the default models, the batching inference worker as `kaobot web`
serves, a SQLite gallery of `pipeline.GALLERY_FACES` faces) on the same picture, alternately, so
that a change of the machine's load touches both alike; and, within each web request, the time
outside the service's `identify` (the request's time minus that of the `identify` it awaited),
which the machine's load barely touches: recognition itself varies by tens of ms from run to run
on a shared CPU, far more than the overhead being measured. The web side is a real HTTP request over
a local TCP connection: the client's multipart encoding, aiohttp's server, the streamed form
reading, the JSON answer and the client's JSON parsing all count as overhead (client and server
share one process and one event loop, as a browser and server do not: an upper bound).
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np

from recognition import Recognizer

from . import pipeline as pl


class _TimedRecognizer(Recognizer):
    """The same recognizer, recording how long each `identify` took (seconds)."""

    def __init__(self, base: Recognizer) -> None:
        super().__init__(
            base.detector, base.embedder, base.gallery, base.settings, base.limits, base.executor, base.worker
        )
        self.durations: list[float] = []

    async def identify(self, data: bytes, scope: str, top_k: int | None = None):
        t0 = time.perf_counter()
        try:
            return await super().identify(data, scope, top_k)
        finally:
            self.durations.append(time.perf_counter() - t0)


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f}, {five:.2f}, {fifteen:.2f}"


async def whois_overhead(reps: int, size: tuple[int, int] = (1024, 1024), faces: int = 3) -> dict:
    """Milliseconds per picture: service p50/p95, web p50/p95, the time of each web request outside
    its `identify` (p50/p95), and web p50 − service p50. Loads (1, 5, 15 min) before and after."""
    import aiohttp
    from aiohttp import web

    from recognition import build_recognizer
    from recognition.config import Settings
    from web import create_app

    data, _ = pl.scene(size, faces)
    load_before = _load()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings()
        settings.data_dir = tmp
        settings.detector.device = settings.embedder.device = "cpu"
        recognizer = _TimedRecognizer(build_recognizer(settings, batching=True))
        await recognizer.gallery.close()  # never opened: replaced by one holding the bench faces
        recognizer.gallery = await pl.filled_gallery(Path(tmp) / "g.sqlite3", recognizer.embedder)
        async with recognizer:
            app = create_app(recognizer, scope="bench", token=None)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            port = site._server.sockets[0].getsockname()[1]
            service, over_http, outside = [], [], []
            try:
                async with aiohttp.ClientSession() as session:

                    async def via_web() -> dict:
                        form = aiohttp.FormData()
                        form.add_field("image", data, filename="bench.png", content_type="image/png")
                        async with session.post(f"http://127.0.0.1:{port}/api/whois", data=form) as resp:
                            resp.raise_for_status()
                            return await resp.json()

                    async def direct() -> dict:
                        return (await recognizer.identify(data, "bench")).to_json()

                    assert await via_web() == await direct()  # warm-up, and the same answer both ways
                    for rep in range(reps):
                        order = (direct, via_web) if rep % 2 == 0 else (via_web, direct)
                        for call in order:
                            t0 = time.perf_counter()
                            await call()
                            elapsed = time.perf_counter() - t0
                            if call is direct:
                                service.append(elapsed)
                            else:
                                over_http.append(elapsed)
                                outside.append(elapsed - recognizer.durations[-1])
            finally:
                await runner.cleanup()
    ms = lambda values, q: float(np.percentile(values, q)) * 1000  # noqa: E731
    return {
        "size": f"{size[0]}×{size[1]}",
        "faces": faces,
        "reps": reps,
        "service": (ms(service, 50), ms(service, 95)),
        "web": (ms(over_http, 50), ms(over_http, 95)),
        "outside": (ms(outside, 50), ms(outside, 95)),
        "added_p50": ms(over_http, 50) - ms(service, 50),
        "load_before": load_before,
        "load_after": _load(),
    }
