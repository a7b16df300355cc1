"""The drawing queue: first come, first served, with N workers and per-user limits.

A job takes its place synchronously when the command arrives (`submit`, no await), so the order
is the order in which people asked, however long the database or Discord take afterwards. It
becomes runnable once its request row exists (`ready`). Workers hand each job to `run_job` and
survive whatever it raises: one bad request never stops the queue.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from bot.i18n import Localized

log = logging.getLogger(__name__)

READY_TIMEOUT_S = 60.0  # a job whose request row never appears is dropped, not waited on forever

T = TypeVar("T")


async def plain_wait(awaitable: Awaitable[Any]) -> Any:
    """How an idle worker waits for its next job in production: a plain await."""
    return await awaitable


class Refused(Localized):
    """A request the bot will not take: `Refused(key, **values)`, shown in the user's language."""


class Progress:
    """The requester's (deferred) reply, edited in order as their job moves along.

    Edits are best effort: after 15 minutes Discord no longer accepts them, and a lost progress
    line must not fail the job. A lock keeps them in the order they were made.
    """

    def __init__(self, interaction) -> None:
        self.interaction = interaction
        self._lock = asyncio.Lock()
        self._pending: set[asyncio.Task] = set()

    async def show(self, text: str) -> None:
        async with self._lock:
            try:
                await self.interaction.edit_original_response(content=text)
            except Exception as error:  # noqa: BLE001 - e.g. discord.NotFound once the token expired
                log.info("could not update a progress message: %s", error)

    def show_soon(self, text: str) -> None:
        """Schedule an edit from synchronous code on the loop (the pipeline's progress callback)."""
        task = asyncio.get_running_loop().create_task(self.show(text))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)


@dataclass(eq=False)
class Job:
    """One /diagram request (or reroll) from submission until its diagrams are posted."""

    user_id: int
    user_name: str
    text: str
    n: int  # candidates to sample
    top: int  # best candidates to post
    channel: Any  # where the diagrams go (a discord Messageable)
    channel_id: int | None
    guild_id: int | None
    progress: Progress  # the requester's status message
    locale: Any = None  # the requester's discord.Locale: every later post speaks their language
    request_id: int | None = None
    seq: int = 0
    state: str = "waiting"  # waiting | running | done | failed | cancelled
    # Both futures are created by DrawQueue.submit.
    ready: asyncio.Future[bool] | None = field(default=None, repr=False)  # set once the request row exists
    finished: asyncio.Future[str] | None = field(default=None, repr=False)  # result: the final state

    @property
    def stored_request_id(self) -> int:
        """`request_id`, which exists before a worker runs the job (it waits for `mark_ready`)."""
        if self.request_id is None:
            raise RuntimeError(f"draw job {self.seq} has no request row")
        return self.request_id


def _submitted(future: asyncio.Future[T] | None) -> asyncio.Future[T]:
    """One of a job's futures, which only `DrawQueue.submit` creates."""
    if future is None:
        raise RuntimeError("the job was never submitted to a DrawQueue")
    return future


class DrawQueue:
    """FIFO of jobs run by `workers` tasks; `run_job(job)` returns "done" or "failed".

    `idle_wait` is how an idle worker awaits the next job (`await idle_wait(queue.get())`): a plain
    await unless replaced. It is the one seam for an in-process Discord simulator, which must be
    told that a worker waiting here is idle, not stuck (tests/e2e_support.py declares it with
    SimCord's `env.external_wait`). It may be set as an attribute before the workers start.
    """

    def __init__(
        self,
        run_job: Callable[[Job], Awaitable[str]],
        workers: int = 1,
        queue_limit: int = 100,
        per_user_limit: int = 2,
        idle_wait: Callable[[Awaitable[Any]], Awaitable[Any]] = plain_wait,
    ):
        self._run_job = run_job
        self.idle_wait = idle_wait
        self.workers = workers
        self.queue_limit = queue_limit
        self.per_user_limit = per_user_limit
        self._queue: asyncio.Queue[Job] = asyncio.Queue()
        self._waiting: list[Job] = []
        self._running: list[Job] = []
        self._tasks: list[asyncio.Task] = []
        self._seq = itertools.count(1)
        self.recent: deque[Job] = deque(maxlen=20)

    # ------------------------------------------------------------------ taking requests

    @property
    def waiting(self) -> list[Job]:
        return list(self._waiting)

    @property
    def running(self) -> list[Job]:
        return list(self._running)

    def pending_for(self, user_id: int) -> int:
        return sum(job.user_id == user_id for job in self._waiting + self._running)

    def submit(self, job: Job) -> int:
        """Give the job its place (no await: the check and the place are atomic); its position, 1 = next.

        Raises Refused when the queue or the user's share of it is full.
        """
        if len(self._waiting) + len(self._running) >= self.queue_limit:
            raise Refused("refusal.queue_full")
        if self.pending_for(job.user_id) >= self.per_user_limit:
            raise Refused("refusal.pending", limit=self.per_user_limit)
        loop = asyncio.get_running_loop()
        job.seq, job.state = next(self._seq), "waiting"
        job.ready, job.finished = loop.create_future(), loop.create_future()
        self._waiting.append(job)
        self._queue.put_nowait(job)
        return len(self._waiting)

    def mark_ready(self, job: Job, request_id: int) -> None:
        """The job's request row exists: a worker may start it."""
        job.request_id = request_id
        ready = _submitted(job.ready)
        if not ready.done():
            ready.set_result(True)

    def cancel(self, job: Job) -> None:
        """Withdraw a job that has not started (e.g. its interaction expired before we answered)."""
        if job.state == "waiting":
            self._finish(job, "cancelled")
            ready = _submitted(job.ready)
            if not ready.done():
                ready.set_result(False)

    def position(self, job: Job) -> int | None:
        """1 = next to start; None once it has started or left the queue."""
        try:
            return self._waiting.index(job) + 1
        except ValueError:
            return None

    # ------------------------------------------------------------------ workers

    def start(self) -> None:
        if not self._tasks:
            self._tasks = [asyncio.create_task(self._worker(i), name=f"draw-worker-{i}") for i in range(self.workers)]

    async def stop(self) -> None:
        """Cancel the workers (a job in progress is abandoned; its thread finishes on its own)."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def join(self) -> None:
        """Wait until every submitted job has left the queue (tests, benchmarks, shutdown)."""
        await self._queue.join()

    async def _worker(self, index: int) -> None:
        while True:
            job = await self.idle_wait(self._queue.get())
            try:
                if job.state == "waiting" and await self._await_ready(job):
                    self._waiting.remove(job)
                    self._running.append(job)
                    job.state = "running"
                    state = "failed"
                    try:
                        state = await self._run_job(job)
                    except Exception:
                        log.exception("draw job %s (request %s) crashed", job.seq, job.request_id)
                    self._finish(job, state)
            finally:
                self._queue.task_done()

    async def _await_ready(self, job: Job) -> bool:
        try:
            ready = await asyncio.wait_for(asyncio.shield(_submitted(job.ready)), READY_TIMEOUT_S)
        except TimeoutError:
            log.warning("draw job %s never became ready; dropped", job.seq)
            ready = False
        if not ready:
            self._finish(job, "cancelled")
        return ready

    def _finish(self, job: Job, state: str) -> None:
        for jobs in (self._waiting, self._running):
            if job in jobs:
                jobs.remove(job)
        job.state = state
        if state != "cancelled":
            self.recent.append(job)
        finished = _submitted(job.finished)
        if not finished.done():
            finished.set_result(state)
