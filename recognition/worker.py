"""A bounded, batching inference worker.

Concurrent requests wait in a queue of at most `max_pending`; beyond that `submit` raises `Busy`
at once (the bot answers "busy, try again shortly" instead of piling work up). Each consumer
takes up to `max_batch` waiting pictures (waiting at most `max_wait_ms` for more) and analyses
them together (`recognition.pipeline.analyse_batch`).

Consumers are `threads` threads of this process, or, with `processes` > 0, that many worker
processes, each with its own detector and embedder: `animeface` holds the GIL, so only
processes let it use several cores. While some consumers are idle, a burst is shared out
between them instead of going to one as a single batch.
"""

from __future__ import annotations

import asyncio
import logging
import math
import multiprocessing
import sys
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

from .config import DetectorSettings, EmbedderSettings, InferenceSettings
from .detect import Detector
from .embed import Embedder
from .errors import KaobotError
from .images import ImageLimits
from .pipeline import Analysis, analyse_batch

log = logging.getLogger(__name__)


class Busy(KaobotError):
    """Too many pictures are waiting; `retry_after`: about how many seconds until there is room
    (None when unknown)."""

    def __init__(self, message: str = "kaobot is busy; try again shortly", retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


_CHILD: tuple | None = None  # (detector, embedder, limits, max_faces) inside a worker process


def _child_init(detector: DetectorSettings, embedder: EmbedderSettings, limits: ImageLimits, max_faces: int) -> None:
    global _CHILD
    from .detect import build_detector
    from .device import apply_torch_threads, configure_threads
    from .embed import build_embedder

    configure_threads(1)  # one core per process
    _CHILD = (build_detector(detector), build_embedder(embedder), limits, max_faces)
    if "torch" in sys.modules:
        apply_torch_threads()


def _child_ready() -> bool:
    return _CHILD is not None


def _child_analyse(datas: list[bytes], embed: bool) -> list:
    detector, embedder, limits, max_faces = _CHILD
    return analyse_batch(datas, detector, embedder, limits, max_faces, embed)


@dataclass
class _Job:
    data: bytes
    embed: bool
    future: asyncio.Future


class InferenceWorker:
    """See the module docstring. Use as `async with InferenceWorker(...) as worker`."""

    def __init__(
        self,
        detector: Detector,
        embedder: Embedder,
        limits: ImageLimits,
        max_faces: int,
        settings: InferenceSettings | None = None,
        backends: tuple[DetectorSettings, EmbedderSettings] | None = None,
    ) -> None:
        """`backends` (the settings that built `detector` and `embedder`) are needed for `processes` > 0."""
        self.detector = detector
        self.embedder = embedder
        self.limits = limits
        self.max_faces = max_faces
        self.settings = settings or InferenceSettings()
        self._queue: asyncio.Queue[_Job] | None = None
        self._tasks: list[asyncio.Task] = []
        self._executor: Executor | None = None
        self.backends = backends
        self.pending = 0
        self._consumers = 0
        self._idle = 0  # consumers waiting for a picture
        self.seconds_per_picture: float | None = None  # moving average of analysed batches, for `Busy.retry_after`

    async def start(self) -> InferenceWorker:
        if self._queue is None:
            self._queue = asyncio.Queue()
            consumers = self.settings.processes or self.settings.threads
            self._consumers = consumers
            if self.settings.processes > 0 and self.backends is None:
                raise ValueError("inference.processes needs the detector and embedder settings")
            self._executor = self._make_executor()
            if self.settings.processes > 0:  # start every process and load its models now, not on a user's request
                loop = asyncio.get_running_loop()
                await asyncio.gather(*[loop.run_in_executor(self._executor, _child_ready) for _ in range(consumers)])
            self._tasks = [asyncio.create_task(self._consume(), name=f"kaobot-infer-{i}") for i in range(consumers)]
        return self

    def _make_executor(self) -> Executor:
        if self.settings.processes > 0:
            return ProcessPoolExecutor(
                self.settings.processes,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_child_init,
                initargs=(*self.backends, self.limits, self.max_faces),
            )
        return ThreadPoolExecutor(self.settings.threads, thread_name_prefix="kaobot-infer")

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self._queue is not None:
            while not self._queue.empty():
                job = self._queue.get_nowait()
                if not job.future.done():
                    job.future.set_exception(Busy("kaobot is shutting down"))
            self._queue = None
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    async def __aenter__(self) -> InferenceWorker:
        return await self.start()

    async def __aexit__(self, *exc_info) -> None:
        await self.close()

    async def submit(self, data: bytes, embed: bool = True) -> Analysis:
        """Analyse one picture; raises `Busy` when `max_pending` pictures are already waiting."""
        if self._queue is None:
            await self.start()
        if self.pending >= self.settings.max_pending:
            raise Busy("kaobot is busy; try again shortly", self.retry_after())
        self.pending += 1
        future = asyncio.get_running_loop().create_future()
        try:
            self._queue.put_nowait(_Job(data, embed, future))
            return await future
        finally:
            self.pending -= 1

    async def _consume(self) -> None:
        loop = asyncio.get_running_loop()
        queue = self._queue
        while True:
            self._idle += 1
            try:
                jobs = [await queue.get()]
            finally:
                self._idle -= 1
            limit = self._batch_limit(queue.qsize())
            deadline = loop.time() + self.settings.max_wait_ms / 1000
            while len(jobs) < limit:
                if not queue.empty():
                    jobs.append(queue.get_nowait())
                    continue
                timeout = deadline - loop.time()
                if timeout <= 0:
                    break
                try:
                    jobs.append(await asyncio.wait_for(queue.get(), timeout))
                except asyncio.TimeoutError:
                    break
            jobs = [j for j in jobs if not j.future.cancelled()]
            if not jobs:
                continue
            # Pictures are grouped by kind of work, so one batch is one forward pass.
            for embed in (True, False):
                group = [j for j in jobs if j.embed == embed]
                if group:
                    await self._run(loop, group, embed)

    def retry_after(self) -> float | None:
        """Seconds until about half the waiting pictures are done (None before any was analysed)."""
        if self.seconds_per_picture is None:
            return None
        return self.seconds_per_picture * self.pending / max(1, self._consumers) / 2

    def _batch_limit(self, waiting: int) -> int:
        """Pictures this consumer takes: `max_batch`, but while other consumers are idle only its fair
        share of what is waiting, so that several threads or processes work in parallel rather than
        one taking the whole burst."""
        if self._consumers <= 1 or self._idle == 0:
            return self.settings.max_batch
        return max(1, min(self.settings.max_batch, math.ceil((1 + waiting) / (self._idle + 1))))

    async def _run(self, loop: asyncio.AbstractEventLoop, jobs: list[_Job], embed: bool) -> None:
        started = loop.time()
        try:
            if self.settings.processes > 0:
                results = await loop.run_in_executor(self._executor, _child_analyse, [j.data for j in jobs], embed)
            else:
                results = await loop.run_in_executor(
                    self._executor,
                    analyse_batch,
                    [j.data for j in jobs],
                    self.detector,
                    self.embedder,
                    self.limits,
                    self.max_faces,
                    embed,
                )
        except BrokenProcessPool:  # a worker process died (killed, out of memory): start new ones
            log.error("an inference process died; starting new ones")
            self._executor.shutdown(wait=False)
            self._executor = self._make_executor()
            results = [KaobotError("the picture could not be analysed; try again")] * len(jobs)
        except Exception as exc:  # a backend failure fails the whole batch, never the worker
            log.exception("inference batch failed")
            results = [exc] * len(jobs)
        per_picture = (loop.time() - started) / len(jobs)
        previous = self.seconds_per_picture
        self.seconds_per_picture = per_picture if previous is None else 0.8 * previous + 0.2 * per_picture
        for job, result in zip(jobs, results):
            if job.future.done():
                continue
            if isinstance(result, Exception):
                job.future.set_exception(result)
            else:
                job.future.set_result(result)
