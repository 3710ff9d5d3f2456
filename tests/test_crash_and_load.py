"""Crash safety of bulk imports (SIGKILL halfway) and a burst of concurrent requests."""

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
import tracemalloc

import numpy as np
import pytest

from recognition import Busy, build_recognizer
from recognition.gallery.sqlite import SQLiteGallery

from .conftest import ALICE, BELLA, CARLA, png

pytestmark = pytest.mark.slow  # a killed import and a burst of requests


def _make_folders(root, per_character=8):
    for name, style in {"alice": ALICE, "bella": BELLA, "carla": CARLA}.items():
        (root / name).mkdir(parents=True)
        for i in range(per_character):
            data = png([(190 + 4 * i, 200, 140 + 5 * i, style)], background=(235 - 6 * i, 235, 225))
            (root / name / f"{i:02d}.png").write_bytes(data)
    return 3 * per_character


def test_sigkill_during_import_loses_nothing_reported_and_rerun_completes(tmp_path):
    root = tmp_path / "people"
    total = _make_folders(root)
    env = dict(os.environ, KAOBOT_DATA_DIR=str(tmp_path / "data"), PYTHONUNBUFFERED="1")
    cmd = [sys.executable, "-m", "tools.cli", "-v", "import", str(root), "--quiet"]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
    reported = []
    deadline = time.monotonic() + 120
    for line in proc.stderr:
        if "enrolled a face for" in line:
            reported.append(line.split("for ", 1)[1].split(" in scope")[0].strip("'"))
        if len(reported) >= total // 2 or time.monotonic() > deadline:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL and len(reported) >= total // 2

    db = tmp_path / "data" / "gallery.sqlite3"
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    stored = dict(conn.execute("SELECT name, COUNT(*) FROM faces GROUP BY name").fetchall())
    conn.close()
    for name in set(reported):
        assert stored.get(name, 0) >= reported.count(name)  # every reported enrolment is there

    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr

    async def final():
        async with SQLiteGallery(db) as g:
            return await g.count(), [c.faces for c in await g.characters("global")]

    count, per_character = asyncio.run(final())
    assert count == total and per_character == [total // 3] * 3  # complete, no duplicates


async def test_burst_of_200_requests_is_bounded(settings, alice_png, pair_png):
    settings.inference.max_pending = 32
    settings.inference.max_batch = 8
    rec = build_recognizer(settings, batching=True)
    await rec.enroll("Alice", alice_png, "g")
    latencies: list[float] = []

    async def one(i: int):
        start = time.perf_counter()
        try:
            result = await rec.identify(pair_png if i % 2 else alice_png, "g")
        except Busy:
            return "busy"
        latencies.append(time.perf_counter() - start)
        return result

    tracemalloc.start()
    try:
        results = await asyncio.gather(*[one(i) for i in range(200)])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        await rec.close()
    answered = [r for r in results if r != "busy"]
    assert len(answered) + results.count("busy") == 200
    assert len(answered) >= settings.inference.max_pending
    assert all(r.faces and r.faces[0].name == "Alice" for r in answered)
    # At most max_pending pictures are decoded and held at once: memory stays far below 200 pictures' worth.
    assert peak < 32 * 1024 * 1024, peak
    p95 = float(np.percentile(latencies, 95))
    print(
        f"burst: {len(answered)} answered, {results.count('busy')} busy, p95 {p95 * 1000:.0f} ms, peak {peak / 2**20:.1f} MiB"
    )
