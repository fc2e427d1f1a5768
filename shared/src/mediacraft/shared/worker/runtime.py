"""The worker runtime: consume a pool's jobs one at a time and run a processor safely.

For each RunJob: make a per-job temp dir, download the inputs, run the processor in a thread
(its CPU work lives in ffmpeg subprocesses and GIL-free OpenCV calls, so this event loop keeps
sending heartbeats), upload the result under the job's output prefix (a re-run of the same
attempt overwrites it), emit the outcome event, and always remove the temp dir. The job is acked
only after its outcome event is published: a worker killed mid-job has its job redelivered.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mediacraft.shared.errors import InvalidInput, MediaCraftError, RetryableError
from mediacraft.shared.logging import bound_contextvars, get_logger
from mediacraft.shared.messages import (
    CancelJob,
    DetectionFinished,
    Envelope,
    JobCancelled,
    JobFailed,
    JobHeartbeat,
    JobProgress,
    JobStarted,
    JobSucceeded,
    Message,
    RunDetection,
    RunJob,
)
from mediacraft.shared.ports.bus import Bus, Incoming, Subscription
from mediacraft.shared.ports.objects import ObjectStore
from mediacraft.shared.tasks import ResultFile, TaskDetection
from mediacraft.shared.topology import CONTROL, EVENTS, job_queue
from mediacraft.shared.worker.contract import JobCancelledError, JobContext, Processor, ProcessorResult
from mediacraft.shared.worker.progress import ProgressState
from mediacraft.shared.worker.settings import WorkerSettings

log = get_logger(__name__)

# A pool's watermark detector: blocking, run in a thread; (video path, cancel event) -> the answer as
# {"state": done|nothing_found|cannot_tell, "regions": [{"box": [x, y, w, h], "confidence": c}], "message"}
Detector = Callable[[Path, threading.Event], dict[str, Any]]


class JobTimeout(InvalidInput):
    """The job ran past its wall-clock limit; running it again would do the same."""

    code = "job_timeout"


class HandBack(Exception):
    """The worker is shutting down before the job finished: requeue it for another worker."""


class _RunningJob:
    def __init__(self, job: RunJob) -> None:
        self.job = job
        self.cancel_event = threading.Event()
        self.progress = ProgressState()
        self.dirty = True
        self.thread: asyncio.Future[ProcessorResult] | None = None


class WorkerRuntime:
    """Runs one pool's jobs with one processor; one job at a time per runtime (prefetch 1)."""

    def __init__(
        self,
        *,
        pool: str,
        processor: Processor,
        bus: Bus,
        objects: ObjectStore,
        settings: WorkerSettings | None = None,
        detector: Detector | None = None,
    ) -> None:
        self.pool = pool
        self.processor = processor
        self.detector = detector
        self.bus = bus
        self.objects = objects
        self.settings = settings or WorkerSettings()
        self.worker_id = self.settings.worker_id or f"{socket.gethostname()}-{os.getpid()}-{pool}"
        self._current: _RunningJob | None = None
        self._cancelled: OrderedDict[tuple[str, int], None] = OrderedDict()
        self._jobs_sub: Subscription | None = None
        self._control_sub: Subscription | None = None
        self._stopping = False
        self._idle = asyncio.Event()
        self._idle.set()
        self.jobs_done = 0

    async def start(self) -> None:
        """Listen for cancel signals, then start taking jobs."""
        control = await self.bus.declare_private_queue([(CONTROL, "")])
        self._control_sub = await self.bus.consume(control, self._on_control, prefetch=50)
        self._jobs_sub = await self.bus.consume(job_queue(self.pool), self._on_job, prefetch=1)
        log.info("worker started", pool=self.pool, worker_id=self.worker_id)

    async def stop(self, grace: float | None = None) -> None:
        """Stop taking jobs; let the current one finish within `grace`, else hand it back."""
        self._stopping = True
        # an adapter's cancel may wait for the running handler: our own grace decides instead
        unsubscribing = asyncio.ensure_future(self._jobs_sub.cancel()) if self._jobs_sub else None
        self._jobs_sub = None
        grace = self.settings.shutdown_grace_seconds if grace is None else grace
        try:
            await asyncio.wait_for(self._idle.wait(), timeout=grace)
        except TimeoutError:
            if self._current is not None:
                log.warning("handing back the current job", task_id=self._current.job.task_id)
                self._current.cancel_event.set()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._idle.wait(), timeout=10)
        if unsubscribing is not None:
            await unsubscribing
        if self._control_sub is not None:
            await self._control_sub.cancel()
            self._control_sub = None

    # --- control -------------------------------------------------------------------------------

    async def _on_control(self, incoming: Incoming) -> None:
        msg = incoming.envelope.open()
        if not isinstance(msg, CancelJob):
            return
        key = (msg.task_id, msg.attempt)
        self._cancelled[key] = None
        while len(self._cancelled) > self.settings.cancel_memory:
            self._cancelled.popitem(last=False)
        current = self._current
        if current is not None and (current.job.task_id, current.job.attempt) == key:
            log.info("cancel requested", task_id=msg.task_id, attempt=msg.attempt)
            current.cancel_event.set()

    # --- jobs ----------------------------------------------------------------------------------

    async def _on_job(self, incoming: Incoming) -> None:
        msg = incoming.envelope.open()
        if isinstance(msg, RunDetection) and self.detector is not None:
            await self._guarded_detect(msg, incoming.envelope.message_id)
            return
        if not isinstance(msg, RunJob):
            raise InvalidInput(f"{msg.TYPE} is not a job", code="not_a_job")
        cause = incoming.envelope.message_id
        with bound_contextvars(task_id=msg.task_id, user_id=msg.user_id, attempt=msg.attempt):
            if (msg.task_id, msg.attempt) in self._cancelled:
                await self._emit(JobCancelled(task_id=msg.task_id, attempt=msg.attempt), msg, cause)
                return
            running = _RunningJob(msg)
            self._current = running
            self._idle.clear()
            try:
                await self._run(running, cause, redelivered=incoming.redelivered)
            finally:
                self._current = None
                self._idle.set()

    async def _run(self, running: _RunningJob, cause: str, *, redelivered: bool) -> None:
        job = running.job
        base = Path(self.settings.work_dir) if self.settings.work_dir else None
        if base is not None:
            base.mkdir(parents=True, exist_ok=True)
        workdir = Path(tempfile.mkdtemp(prefix=f"mc-{job.task_id[:12]}-{job.attempt}-", dir=base))
        started = time.monotonic()
        await self._emit(JobStarted(task_id=job.task_id, attempt=job.attempt, worker_id=self.worker_id), job, cause)
        ticker = asyncio.create_task(self._tick(running, cause))
        outcome: Message
        try:
            result = await asyncio.wait_for(
                self._work(running, workdir), timeout=job.deadline_seconds or self.settings.job_time_limit_seconds
            )
            outcome = JobSucceeded(
                task_id=job.task_id,
                attempt=job.attempt,
                result=result,
                processing_seconds=round(time.monotonic() - started, 3),
            )
        except TimeoutError:
            outcome = self._failed(job, JobTimeout("the job took longer than its time limit"))
        except JobCancelledError:
            if self._stopping and (job.task_id, job.attempt) not in self._cancelled:
                raise HandBack("worker stopping") from None
            outcome = JobCancelled(task_id=job.task_id, attempt=job.attempt)
        except MediaCraftError as exc:
            outcome = self._failed(job, exc)
        except Exception as exc:  # a bug or an environment fault: let the retry policy decide
            log.exception("job crashed")
            outcome = self._failed(job, RetryableError(f"the worker failed unexpectedly: {exc}", code="worker_error"))
        finally:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
            await self._settle(running)
            await asyncio.to_thread(shutil.rmtree, workdir, True)
        await self._emit(outcome, job, cause)
        self.jobs_done += 1
        log.info("job finished", outcome=outcome.TYPE, redelivered=redelivered)

    async def _work(self, running: _RunningJob, workdir: Path) -> ResultFile:
        job = running.job
        loop = asyncio.get_running_loop()
        running.progress.enter("download", time.monotonic())
        paths: list[Path] = []
        total = sum(i.size for i in job.inputs) or 1
        done = 0
        for n, item in enumerate(job.inputs):
            self._check(running)
            suffix = Path(item.original_name).suffix.lower()
            suffix = suffix if suffix.isascii() and suffix[1:].isalnum() and len(suffix) <= 6 else ""
            path = workdir / f"input-{n:03d}{suffix}"
            await self.objects.get_file(item.key, path)
            paths.append(path)
            done += item.size
            self._advance(running, done / total)
        self._check(running)
        running.progress.enter("process", time.monotonic())
        running.dirty = True

        def report(fraction: float, detail: str = "") -> None:
            loop.call_soon_threadsafe(self._advance, running, fraction)

        ctx = JobContext(
            task_id=job.task_id,
            attempt=job.attempt,
            workdir=workdir,
            inputs=paths,
            input_names=[i.original_name for i in job.inputs],
            config=dict(job.config),
            report=report,
            cancel_event=running.cancel_event,
            deadline_seconds=job.deadline_seconds,
            task_type=job.task_type.value,
        )
        # shielded: on the wall-clock limit the thread is told to stop and awaited in _run
        running.thread = asyncio.ensure_future(asyncio.to_thread(self.processor, ctx))
        produced: ProcessorResult = await asyncio.shield(running.thread)
        self._check(running)
        running.progress.enter("upload", time.monotonic())
        running.dirty = True
        key = f"{job.output_key.rstrip('/')}/{produced.filename}"
        info = await self.objects.put_file(key, produced.path, content_type=produced.content_type)
        self._advance(running, 1.0)
        return ResultFile(
            key=key,
            size=info.size,
            content_type=produced.content_type,
            filename=produced.filename,
            media=produced.media,
            info=produced.info,
        )

    # --- detection jobs ---------------------------------------------------------------------------

    async def _guarded_detect(self, job: RunDetection, cause: str) -> None:
        self._idle.clear()
        try:
            with bound_contextvars(task_id=job.task_id, user_id=job.user_id, request_id=job.request_id):
                answer = await self._detect(job)
            env = Envelope.wrap(
                DetectionFinished(task_id=job.task_id, request_id=job.request_id, detection=answer),
                correlation_id=job.task_id,
                causation_id=cause,
            )
            await self.bus.publish(EVENTS, DetectionFinished.TYPE, env)
            log.info("detection finished", state=answer.state, regions=len(answer.regions))
        finally:
            self._idle.set()

    async def _detect(self, job: RunDetection) -> TaskDetection:
        """Download the draft's video and run the detector in a thread; any trouble is a `failed` answer."""
        assert self.detector is not None
        detector = self.detector
        base = Path(self.settings.work_dir) if self.settings.work_dir else None
        if base is not None:
            base.mkdir(parents=True, exist_ok=True)
        workdir = Path(tempfile.mkdtemp(prefix=f"mc-detect-{job.task_id[:12]}-", dir=base))
        cancel = threading.Event()
        thread: asyncio.Future[dict[str, Any]] | None = None
        try:
            if not job.inputs:
                raise InvalidInput("the task has no uploaded video to look at")
            item = job.inputs[0]
            suffix = Path(item.original_name).suffix.lower()
            suffix = suffix if suffix.isascii() and suffix[1:].isalnum() and len(suffix) <= 6 else ""
            path = workdir / f"input{suffix}"
            await self.objects.get_file(item.key, path)
            thread = asyncio.ensure_future(asyncio.to_thread(detector, path, cancel))
            limit = job.deadline_seconds or self.settings.detection_time_limit_seconds
            found = await asyncio.wait_for(asyncio.shield(thread), timeout=limit)
            answer = TaskDetection.model_validate({**found, "request_id": job.request_id})
        except TimeoutError:
            answer = _detection_failed(job, "Looking for the watermark took too long; draw the boxes instead.")
        except MediaCraftError as exc:
            answer = _detection_failed(job, f"Could not look for a watermark: {exc.message}")
        except Exception as exc:  # a bug or an environment fault: the person can still draw the boxes
            log.exception("detection crashed")
            answer = _detection_failed(
                job, f"Could not look for a watermark ({type(exc).__name__}); draw the boxes instead."
            )
        finally:
            if thread is not None and not thread.done():
                cancel.set()
                with contextlib.suppress(BaseException):
                    await asyncio.wait_for(asyncio.shield(thread), timeout=60)
            await asyncio.to_thread(shutil.rmtree, workdir, True)
        return answer

    async def _settle(self, running: _RunningJob) -> None:
        """Make sure the processor thread has stopped before its temp dir is removed."""
        thread = running.thread
        if thread is None or thread.done():
            return
        running.cancel_event.set()
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(asyncio.shield(thread), timeout=60)

    def _check(self, running: _RunningJob) -> None:
        if running.cancel_event.is_set():
            raise JobCancelledError("the job was cancelled")

    def _advance(self, running: _RunningJob, fraction: float) -> None:
        before = running.progress.percent
        running.progress.update(fraction)
        if running.progress.percent != before:
            running.dirty = True

    async def _tick(self, running: _RunningJob, cause: str) -> None:
        """Send throttled progress and periodic heartbeats until the job ends."""
        job = running.job
        last_beat = time.monotonic()
        interval = self.settings.progress_interval_seconds
        while True:
            await asyncio.sleep(interval)
            now = time.monotonic()
            try:
                if running.dirty:
                    running.dirty = False
                    p = running.progress
                    await self._emit(
                        JobProgress(
                            task_id=job.task_id,
                            attempt=job.attempt,
                            percent=p.percent,
                            stage=p.stage,
                            stage_percent=round(p.stage_fraction * 100, 1),
                            eta_seconds=p.eta_seconds(now),
                        ),
                        job,
                        cause,
                    )
                    last_beat = now
                elif now - last_beat >= self.settings.heartbeat_seconds:
                    await self._emit(
                        JobHeartbeat(task_id=job.task_id, attempt=job.attempt, worker_id=self.worker_id), job, cause
                    )
                    last_beat = now
            except Exception:  # a lost event is repaired by the next one; never kill the job for it
                log.warning("could not send progress", exc_info=True)

    @staticmethod
    def _failed(job: RunJob, exc: MediaCraftError) -> JobFailed:
        return JobFailed(
            task_id=job.task_id,
            attempt=job.attempt,
            code=exc.code,
            message=exc.message,
            retryable=isinstance(exc, RetryableError),
        )

    async def _emit(self, message: Message, job: RunJob, cause: str) -> None:
        env = Envelope.wrap(message, correlation_id=job.task_id, causation_id=cause)
        await self.bus.publish(EVENTS, message.TYPE, env)


def _detection_failed(job: RunDetection, message: str) -> TaskDetection:
    return TaskDetection(state="failed", regions=[], message=message, request_id=job.request_id)


def describe(runtime: WorkerRuntime) -> dict[str, Any]:
    """A small status dict for health endpoints and logs."""
    current = runtime._current
    return {
        "pool": runtime.pool,
        "worker_id": runtime.worker_id,
        "busy": current is not None,
        "task_id": current.job.task_id if current else None,
        "jobs_done": runtime.jobs_done,
    }
