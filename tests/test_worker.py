"""The batching worker: batches form under load, bad pictures fail alone, overflow answers Busy."""

import asyncio

import numpy as np

from recognition import BadImage, Busy, build_recognizer
from recognition.config import InferenceSettings
from recognition.detect.animeface_backend import AnimefaceDetector
from recognition.embed.baseline import BaselineEmbedder
from recognition.images import ImageLimits
from recognition.worker import InferenceWorker


class CountingDetector(AnimefaceDetector):
    """The real animeface detector, recording how many pictures each call received."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[int] = []

    def detect_batch(self, images):
        self.calls.append(len(images))
        return [self.detect(img) for img in images]


def _worker(detector=None, **settings) -> InferenceWorker:
    return InferenceWorker(
        detector or AnimefaceDetector(), BaselineEmbedder(), ImageLimits(), 20, InferenceSettings(**settings)
    )


async def test_concurrent_requests_are_batched_and_answered(alice_png, pair_png):
    detector = CountingDetector()
    async with _worker(detector, max_batch=4, max_wait_ms=50) as worker:
        results = await asyncio.gather(*[worker.submit(pair_png if i % 2 else alice_png) for i in range(8)])
    assert [len(r.faces) for r in results] == [1, 2] * 4
    assert max(detector.calls) > 1 and sum(detector.calls) == 8
    assert all(r.vectors.shape == (len(r.faces), BaselineEmbedder().dim) for r in results)


async def test_a_burst_is_shared_between_idle_consumers(alice_png):
    detector = CountingDetector()
    async with _worker(detector, threads=2, max_batch=16, max_wait_ms=50) as worker:
        await asyncio.sleep(0.05)  # both consumers waiting
        results = await asyncio.gather(*[worker.submit(alice_png) for _ in range(16)])
    assert all(len(r.faces) == 1 for r in results)
    assert sum(detector.calls) == 16 and len(detector.calls) >= 2 and max(detector.calls) <= 8


async def test_a_bad_picture_fails_alone(alice_png):
    async with _worker(max_batch=4, max_wait_ms=50) as worker:
        results = await asyncio.gather(worker.submit(b"garbage"), worker.submit(alice_png), return_exceptions=True)
    assert isinstance(results[0], BadImage)
    assert len(results[1].faces) == 1


async def test_overflow_answers_busy_and_nothing_piles_up(alice_png):
    async with _worker(max_batch=1, max_pending=3) as worker:
        results = await asyncio.gather(*[worker.submit(alice_png) for _ in range(10)], return_exceptions=True)
        assert worker.pending == 0
    busy = [r for r in results if isinstance(r, Busy)]
    done = [r for r in results if not isinstance(r, Exception)]
    assert len(done) == 3 and len(busy) == 7
    assert "try again" in str(busy[0])


async def test_results_match_the_unbatched_path(settings, alice_png, pair_png):
    plain = build_recognizer(settings)
    batched = build_recognizer(settings, gallery=plain.gallery, batching=True)
    try:
        for data in (alice_png, pair_png):
            a, b = plain.analyse(data), await batched.worker.submit(data)
            assert [f.box for f in a.faces] == [f.box for f in b.faces]
            np.testing.assert_allclose(a.vectors, b.vectors, atol=1e-6)
    finally:
        await batched.close()


async def test_close_fails_waiting_requests(alice_png):
    worker = await _worker(max_batch=1, max_pending=10).start()
    tasks = [asyncio.create_task(worker.submit(alice_png)) for _ in range(5)]
    await asyncio.sleep(0)
    await worker.close()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, Busy) or hasattr(r, "faces") for r in results)
    assert any(isinstance(r, Busy) for r in results)


async def test_worker_processes_give_the_same_answers(settings, alice_png, pair_png):
    settings.inference.processes = 2
    settings.inference.max_batch = 2
    plain = build_recognizer(settings)
    batched = build_recognizer(settings, gallery=plain.gallery, batching=True)
    try:
        results = await asyncio.gather(
            *[batched.worker.submit(d) for d in (alice_png, pair_png, b"junk", pair_png)], return_exceptions=True
        )
        assert isinstance(results[2], BadImage)
        for data, got in zip((alice_png, pair_png, None, pair_png), results):
            if data is None:
                continue
            want = plain.analyse(data)
            assert [f.box for f in got.faces] == [f.box for f in want.faces]
            np.testing.assert_allclose(got.vectors, want.vectors, atol=1e-6)
    finally:
        await batched.close()


async def test_a_killed_worker_process_is_replaced(settings, alice_png):
    import multiprocessing
    import os
    import signal

    from recognition import KaobotError

    settings.inference.processes = 1
    rec = build_recognizer(settings, batching=True)
    try:
        assert len((await rec.worker.submit(alice_png)).faces) == 1
        for child in multiprocessing.active_children():
            os.kill(child.pid, signal.SIGKILL)
        outcomes = []
        for _ in range(3):
            try:
                outcomes.append(len((await rec.worker.submit(alice_png)).faces))
            except KaobotError as exc:
                outcomes.append(str(exc))
        assert outcomes[-1] == 1  # served again by a new process, without a restart
    finally:
        await rec.close()
