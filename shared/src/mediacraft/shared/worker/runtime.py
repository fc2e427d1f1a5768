"""The worker runtime: consume a pool's jobs one at a time and run a processor safely.

For each RunJob: make a per-job temp dir (locked while the job runs: `scratch`), download the
inputs, run the processor in a thread (its CPU work lives in ffmpeg subprocesses and GIL-free
OpenCV calls, so this event loop keeps sending heartbeats), upload the result under the job's
output prefix (a re-run of the same attempt overwrites it), emit the outcome event, and always
remove the temp dir. The job is acked only after its outcome event is published: a worker killed
mid-job has its job redelivered.

One execution per attempt. A connection loss makes the broker redeliver a job whose first copy
is still running (its ack would go to a dead channel). So a worker remembers the attempts it runs
and recently ran (process-wide: replicas in one process share it), and before it starts a
*redelivered* job it asks every worker over the control exchange (JobClaimQuery) whether one runs
or ran that attempt, waiting `claim_wait_seconds` for an answer (JobClaimed): claimed, the copy is
acked without running; a copy of an attempt running in this very process waits for that run to
end and is then acked. A claimant that dies later loses its lease at the scheduler, which
dispatches the task again. And a worker that cannot reach the broker for longer than the lease
(`lease_seconds`) stops its job by itself: it could not report it, and the scheduler has moved on.

Scratch space. Before a job starts (before its directory is made) the worker checks that its work
dir has room for it: the inputs' size times `scratch_space_factor`, plus `scratch_reserve_bytes`
kept free. Short, it gives the job back unrun and unfailed (a bus `Release`: another worker takes
it, and the return does not count toward the queue's delivery limit), stops consuming, looks again
every `scratch_recheck_seconds` and consumes again once the space is back. Whether it takes jobs,
its free and needed bytes and what its work dir holds are in `describe()`, in its log lines and in
its status file (`status_file`), which the readiness probe reads.

Metrics. Each runtime records its jobs' outcomes, durations and queue waits in a `WorkerMetrics`
(metrics.py; the runtimes of one pool share one), which also reads `describe()` at every scrape.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mediacraft.shared.error_texts import sentence
from mediacraft.shared.errors import InvalidInput, MediaCraftError, RetryableError
from mediacraft.shared.logging import bound_contextvars, get_logger
from mediacraft.shared.media.errors import local_cause
from mediacraft.shared.messages import (
    CancelJob,
    DetectionFinished,
    Envelope,
    JobCancelled,
    JobClaimed,
    JobClaimQuery,
    JobFailed,
    JobHeartbeat,
    JobProgress,
    JobStarted,
    JobSucceeded,
    Message,
    RunDetection,
    RunJob,
)
from mediacraft.shared.ports.bus import Bus, Incoming, Release, Subscription
from mediacraft.shared.ports.objects import ObjectStore
from mediacraft.shared.tasks import ResultFile, ResultOutput, TaskDetection
from mediacraft.shared.topology import CONTROL, EVENTS, job_queue
from mediacraft.shared.tracing import SpanKind, continued, get_tracer, job_failed, stage
from mediacraft.shared.tracing import job_stages as traced_job_stages
from mediacraft.shared.worker import scratch, status
from mediacraft.shared.worker.contract import JobCancelledError, JobContext, Processor, ProcessorResult
from mediacraft.shared.worker.progress import DEFAULT_STAGES, UPLOAD, ProgressState, Stage, job_stages
from mediacraft.shared.worker.settings import WorkerSettings

if TYPE_CHECKING:
    from mediacraft.shared.worker.metrics import WorkerMetrics

log = get_logger(__name__)
TRACER = get_tracer("mediacraft.worker")

# A pool's watermark detector: blocking, run in a thread; (video path, cancel event) -> the answer as
# {"state": done|nothing_found|cannot_tell, "regions": [{"box": [x, y, w, h], "confidence": c}], "message"}
Detector = Callable[[Path, threading.Event], dict[str, Any]]


class JobTimeout(InvalidInput):
    """The job ran past its wall-clock limit; running it again would do the same."""

    code = "job_timeout"


class HandBack(Release):
    """The worker cannot run the job now (it is shutting down before the job finished): give it
    back for another worker, without counting toward the queue's delivery limit."""


class ShortOfSpace(HandBack):
    """The worker's scratch space has no room for the job now: give it back unrun."""


class BrokerLost(Exception):
    """The broker stayed out of reach longer than the lease: the job was stopped, unreported. Its
    channel went with the connection, so the broker has put it back already."""


Attempt = tuple[str, int]  # (task id, attempt)


class _RunningJob:
    def __init__(self, job: RunJob, stages: tuple[Stage, ...] = DEFAULT_STAGES) -> None:
        self.job = job
        self.cancel_event = threading.Event()
        self.progress = ProgressState(stages=stages)
        self.dirty = True
        self.thread: asyncio.Future[ProcessorResult] | None = None
        self.done = asyncio.Event()
        self.broker_lost = False


class Executions:
    """The attempts this process runs and has recently finished (bounded), for every runtime in it."""

    def __init__(self, memory: int = 1000) -> None:
        self.running: dict[Attempt, _RunningJob] = {}
        self.finished: OrderedDict[Attempt, None] = OrderedDict()
        self.memory = memory

    def finish(self, key: Attempt, *, reported: bool) -> None:
        """The run of `key` ended; `reported`: its outcome event was published (else a copy may run)."""
        running = self.running.pop(key, None)
        if running is not None:
            running.done.set()
        if not reported:
            return
        self.finished[key] = None
        self.finished.move_to_end(key)
        while len(self.finished) > self.memory:
            self.finished.popitem(last=False)


EXECUTIONS = Executions()


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
        executions: Executions | None = None,
        detector: Detector | None = None,
        metrics: WorkerMetrics | None = None,
    ) -> None:
        self.pool = pool
        self.executions = EXECUTIONS if executions is None else executions  # one per process
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
        self._claims: dict[Attempt, asyncio.Future[JobClaimed]] = {}
        self._ran: OrderedDict[Attempt, None] = OrderedDict()  # attempts this runtime ended
        self._last_contact = time.monotonic()
        self.jobs_done = 0
        self.duplicates_dropped = 0
        self.scratch_bytes = 0
        self.taking_jobs = True  # False while short of scratch space (its consumer is off)
        self.scratch_free_bytes: int | None = None  # at the last look
        self.scratch_needed_bytes = 0  # what the last job asked for (a job that did not fit, while short)
        self.jobs_handed_back_for_space = 0
        self._space_watch: asyncio.Task[None] | None = None
        self._unsubscribing: asyncio.Future[None] | None = None
        if metrics is None:
            from mediacraft.shared.worker.metrics import WorkerMetrics

            metrics = WorkerMetrics(pool)
        self.metrics = metrics
        metrics.watch(lambda: describe(self))

    @property
    def work_dir(self) -> Path | None:
        """The worker's own scratch directory, or None for the system temp dir."""
        return Path(self.settings.work_dir) if self.settings.work_dir else None

    @property
    def status_path(self) -> Path | None:
        """Where the readiness status is kept, if anywhere."""
        return Path(self.settings.status_file) if self.settings.status_file else None

    async def start(self) -> None:
        """Remove what dead workers left in the work dir, listen for control signals, take jobs."""
        base = self.work_dir
        if base is not None:
            await asyncio.to_thread(base.mkdir, parents=True, exist_ok=True)
            removed = await asyncio.to_thread(scratch.sweep, base)
            if removed:
                log.warning("removed job directories left by stopped workers", count=len(removed), pool=self.pool)
            await self.scratch_usage()
        control = await self.bus.declare_private_queue([(CONTROL, "")])
        self._control_sub = await self.bus.consume(control, self._on_control, prefetch=50)
        room = await self._measure_space()
        reserve = self.settings.scratch_reserve_bytes
        if room.free < min(reserve, room.capacity):  # not even the reserve: no job would fit
            self.scratch_needed_bytes = reserve
            self._go_short(room.free)
        else:
            self._jobs_sub = await self.bus.consume(job_queue(self.pool), self._traced_job, prefetch=1)
        await self._write_status()
        log.info(
            "worker started",
            pool=self.pool,
            worker_id=self.worker_id,
            taking_jobs=self.taking_jobs,
            scratch_free_bytes=room.free,
        )

    async def stop(self, grace: float | None = None) -> None:
        """Stop taking jobs; let the current one finish within `grace`, else hand it back."""
        self._stopping = True
        if self._space_watch is not None:
            self._space_watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._space_watch
            self._space_watch = None
        # an adapter's cancel may wait for the running handler: our own grace decides instead
        unsubscribing = asyncio.ensure_future(self._jobs_sub.cancel()) if self._jobs_sub else self._unsubscribing
        self._jobs_sub = None
        await self._write_status()
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
        if isinstance(msg, JobClaimQuery):
            await self._answer_claim(msg)
            return
        if isinstance(msg, JobClaimed):
            waiting = self._claims.get((msg.task_id, msg.attempt))
            if waiting is not None and msg.asked_by == self.worker_id and not waiting.done():
                waiting.set_result(msg)
            return
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

    async def _traced_job(self, incoming: Incoming) -> None:
        """Handle a job in its task's trace: a span for the job, one per stage inside it."""
        envelope = incoming.envelope
        attributes = {"mediacraft.task_id": envelope.correlation_id or "", "mediacraft.pool": self.pool}
        with (
            continued(envelope.traceparent, "worker job", tracer=TRACER, kind=SpanKind.CONSUMER, attributes=attributes),
            traced_job_stages(TRACER),
        ):
            await self._on_job(incoming)

    async def _on_job(self, incoming: Incoming) -> None:
        msg = incoming.envelope.open()
        if isinstance(msg, RunDetection) and self.detector is not None:
            if not await self._room_for([i.size for i in msg.inputs[:1]]):  # it reads the first input only
                self.jobs_handed_back_for_space += 1
                raise ShortOfSpace("short of scratch space: handed back for another worker")
            await self._guarded_detect(msg, incoming.envelope.message_id)
            return
        if not isinstance(msg, RunJob):
            raise InvalidInput(f"{msg.TYPE} is not a job", code="not_a_job")
        cause = incoming.envelope.message_id
        key = (msg.task_id, msg.attempt)
        with bound_contextvars(task_id=msg.task_id, user_id=msg.user_id, attempt=msg.attempt):
            if key in self._cancelled:
                await self._emit(JobCancelled(task_id=msg.task_id, attempt=msg.attempt), msg, cause)
                self.metrics.ended("cancelled")  # cancelled before it started: no duration
                return
            if incoming.redelivered and await self._runs_elsewhere(key):
                self.duplicates_dropped += 1
                return
            # after a reconnect the new channel may deliver while a job still runs: one at a time
            while self._current is not None:
                await self._idle.wait()
            if self._stopping:
                self.metrics.ended("handed_back")
                raise HandBack("worker stopping")
            if not incoming.live():
                # its channel closed while it waited: the broker delivers it again, to run it then
                log.warning("job not started: its delivery was lost with a reconnect")
                self.duplicates_dropped += 1
                return
            if not await self._room_for([i.size for i in msg.inputs]):
                self.jobs_handed_back_for_space += 1
                self.metrics.ended("handed_back")
                raise ShortOfSpace("short of scratch space: handed back for another worker")
            running = _RunningJob(msg, job_stages(self.processor, msg.task_type.value))
            self.executions.running[key] = running
            self._current = running
            self._idle.clear()
            reported = False
            try:
                await self._run(
                    running, cause, redelivered=incoming.redelivered, published=incoming.envelope.occurred_at
                )
                reported = True
            except (HandBack, BrokerLost):
                self.metrics.ended("handed_back")  # back in the queue, unfinished, for another worker
                raise
            finally:
                self.executions.finish(key, reported=reported)
                if reported:
                    self._ran[key] = None
                    while len(self._ran) > self.settings.cancel_memory:
                        self._ran.popitem(last=False)
                self._current = None
                self._idle.set()

    # --- one execution per attempt ---------------------------------------------------------------

    async def _runs_elsewhere(self, key: Attempt) -> bool:
        """Whether a redelivered attempt runs or ran in this process or on another worker."""
        local = self.executions.running.get(key)
        if local is not None:
            log.warning("redelivered job already running here: waiting for that run", worker_id=self.worker_id)
            await local.done.wait()
            if key in self.executions.finished:
                return True
            # that run ended without reporting (handed back, broker lost): this copy may run
        if key in self.executions.finished:
            log.warning("redelivered job already ran here: dropped")
            return True
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[JobClaimed] = loop.create_future()
        self._claims[key] = answer
        query = JobClaimQuery(task_id=key[0], attempt=key[1], asked_by=self.worker_id)
        deadline = loop.time() + self.settings.claim_wait_seconds
        try:
            # asked again every half second: a claimant reconnecting too may not listen yet
            while (remaining := deadline - loop.time()) > 0 and not answer.done():
                try:
                    async with asyncio.timeout(remaining):
                        await self.bus.publish(CONTROL, "", Envelope.wrap(query, correlation_id=key[0]))
                except Exception as exc:  # a broker out of reach answers nothing either
                    log.info("claim query not sent", error_type=type(exc).__name__)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(answer), timeout=min(0.5, max(0.0, deadline - loop.time())))
        finally:
            self._claims.pop(key, None)
        if not answer.done():
            return False  # nobody runs it: the copy is the job's only one (its first worker is gone)
        claimed = answer.result()
        log.warning(
            "redelivered job claimed by another worker: dropped",
            claimed_by=claimed.worker_id,
            finished=claimed.finished,
        )
        return True

    async def _answer_claim(self, query: JobClaimQuery) -> None:
        key = (query.task_id, query.attempt)
        if query.asked_by == self.worker_id:
            return
        running = self._current is not None and (self._current.job.task_id, self._current.job.attempt) == key
        if not running and key not in self._ran:
            return
        answer = JobClaimed(
            task_id=query.task_id,
            attempt=query.attempt,
            worker_id=self.worker_id,
            asked_by=query.asked_by,
            finished=not running,
        )
        try:
            await self.bus.publish(CONTROL, "", Envelope.wrap(answer, correlation_id=query.task_id))
        except Exception:  # the asker then runs the copy: the store's compare-and-set keeps one result
            log.warning("could not answer a claim query", task_id=query.task_id, exc_info=True)

    async def _run(self, running: _RunningJob, cause: str, *, redelivered: bool, published: datetime) -> None:
        job = running.job
        jobdir = await asyncio.to_thread(scratch.create, self.work_dir, job.task_id, job.attempt)
        workdir = jobdir.path
        started = time.monotonic()
        self.metrics.started(time.time() - published.timestamp())
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
                subtasks=running.progress.subtasks,
            )
        except TimeoutError:
            outcome = self._failed(job, JobTimeout("the job took longer than its time limit"))
        except JobCancelledError:
            if running.broker_lost:
                raise BrokerLost("the broker was out of reach longer than the lease") from None
            if self._stopping and (job.task_id, job.attempt) not in self._cancelled:
                raise HandBack("worker stopping") from None
            outcome = JobCancelled(task_id=job.task_id, attempt=job.attempt)
        except MediaCraftError as exc:
            outcome = self._failed(job, exc)
        except Exception as exc:  # a fault of the machine (out of space, ...) or a bug: retried either way
            fault: RetryableError | None = local_cause(exc)
            if fault is None:
                log.exception("job crashed")
                fault = RetryableError(f"the worker failed unexpectedly: {exc!r}", code="worker_error")
            else:
                log.warning("job stopped by a local fault", code=fault.code, error=repr(exc))
            outcome = self._failed(job, fault)
        finally:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
            await self._settle(running)
            await asyncio.to_thread(jobdir.remove)
        await self._emit(outcome, job, cause)
        self.jobs_done += 1
        self.metrics.ended(
            _OUTCOMES[outcome.TYPE],
            task_type=job.task_type.value,
            method=method_of(job.config),
            seconds=time.monotonic() - started,
            code=outcome.code if isinstance(outcome, JobFailed) else None,
        )
        log.info(
            "job finished", outcome=outcome.TYPE, redelivered=redelivered, scratch_bytes=await self.scratch_usage()
        )
        await self._write_status()

    async def scratch_usage(self) -> int:
        """Bytes under the worker's own work dir now (0 on the system temp dir); kept in `scratch_bytes`."""
        base = self.work_dir
        self.scratch_bytes = 0 if base is None else await asyncio.to_thread(scratch.usage_bytes, base)
        return self.scratch_bytes

    # --- scratch space ---------------------------------------------------------------------------

    async def _measure_space(self) -> scratch.Space:
        """The scratch space now, looked at in a thread; its free bytes kept in `scratch_free_bytes`."""
        room = await asyncio.to_thread(scratch.space, self.work_dir, self.settings.scratch_limit_bytes)
        self.scratch_free_bytes = room.free
        return room

    async def _room_for(self, input_sizes: list[int]) -> bool:
        """Whether the scratch space has room now for a job with inputs of `input_sizes` bytes; when
        not, stop taking jobs until it has."""
        if not self.taking_jobs:
            return False  # a delivery that came before the consumer went off: it goes back as well
        needed = scratch.needed_bytes(
            input_sizes,
            factor=self.settings.scratch_space_factor,
            reserve=self.settings.scratch_reserve_bytes,
        )
        self.scratch_needed_bytes = needed
        room = await self._measure_space()
        if room.free >= needed:
            return True
        if needed > room.capacity:
            # no wait would make room for it: run it as before the check, the estimate is generous
            log.warning(
                "job larger than the whole scratch space: taking it anyway",
                free_bytes=room.free,
                needed_bytes=needed,
                capacity_bytes=room.capacity,
            )
            return True
        self._go_short(room.free)
        return False

    def _go_short(self, free: int) -> None:
        """Take no jobs from now until the scratch space has `scratch_needed_bytes` free again."""
        self.taking_jobs = False
        log.warning(
            "short of scratch space: taking no jobs until it is back",
            pool=self.pool,
            free_bytes=free,
            needed_bytes=self.scratch_needed_bytes,
            scratch_bytes=self.scratch_bytes,
        )
        self._space_watch = asyncio.create_task(self._wait_for_space())

    async def _wait_for_space(self) -> None:
        """Stop consuming; look at the scratch space every `scratch_recheck_seconds` until it has room
        for the job that did not fit (at start: for the reserve), then consume again."""
        subscription, self._jobs_sub = self._jobs_sub, None
        if subscription is not None:
            # shielded: a stop that cancels this wait still lets the consumer go off (and awaits it)
            self._unsubscribing = asyncio.ensure_future(subscription.cancel())
            await asyncio.shield(self._unsubscribing)
            self._unsubscribing = None
        await self._write_status()
        while True:
            await asyncio.sleep(self.settings.scratch_recheck_seconds)
            room = await self._measure_space()
            if room.free >= min(self.scratch_needed_bytes, room.capacity):
                break
            await self._write_status()
        if self._stopping:
            return
        self.taking_jobs = True
        log.info(
            "scratch space back: taking jobs again",
            pool=self.pool,
            free_bytes=room.free,
            needed_bytes=self.scratch_needed_bytes,
        )
        self._jobs_sub = await self.bus.consume(job_queue(self.pool), self._traced_job, prefetch=1)
        self._space_watch = None
        await self._write_status()

    async def _write_status(self) -> None:
        """Rewrite the status file, if there is one; a failure is logged, never raised."""
        path = self.status_path
        if path is None:
            return
        state = {
            "pool": self.pool,
            "taking_jobs": self.taking_jobs and not self._stopping,
            "scratch_free_bytes": self.scratch_free_bytes,
            "scratch_needed_bytes": self.scratch_needed_bytes,
            "scratch_bytes": self.scratch_bytes,
        }
        try:
            await asyncio.to_thread(status.write, path, self.worker_id, state)
        except OSError as exc:
            log.warning("could not write the status file", path=str(path), error=str(exc))

    async def _work(self, running: _RunningJob, workdir: Path) -> ResultFile:
        job = running.job
        loop = asyncio.get_running_loop()
        running.progress.enter("download", time.monotonic())
        stage("download")
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
        first = running.progress.stages[1].name  # the processor's first stage (by default `process`)
        running.progress.enter(first, time.monotonic())
        stage("process")
        running.dirty = True

        def report(fraction: float, detail: str = "") -> None:
            loop.call_soon_threadsafe(self._advance, running, fraction, detail)

        def enter(name: str) -> None:
            loop.call_soon_threadsafe(self._enter, running, name)

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
            enter=enter,
        )
        # shielded: on the wall-clock limit the thread is told to stop and awaited in _run
        running.thread = asyncio.ensure_future(asyncio.to_thread(self.processor, ctx))
        produced: ProcessorResult = await asyncio.shield(running.thread)
        self._check(running)
        running.progress.enter(UPLOAD.name, time.monotonic())
        stage("upload")
        running.dirty = True
        prefix = job.output_key.rstrip("/")
        key = f"{prefix}/{produced.filename}"
        files = [(produced.path, produced.content_type, key)]
        extra_keys = [f"{prefix}/{extra.filename}" for extra in produced.extras]
        if len({key, *extra_keys}) != 1 + len(extra_keys):
            raise InvalidInput("the job's output files need distinct names", code="duplicate_output")
        files += [(e.path, e.content_type, k) for e, k in zip(produced.extras, extra_keys, strict=True)]
        total = sum(path.stat().st_size for path, _, _ in files) or 1
        sizes: list[int] = []
        for path, content_type, object_key in files:
            self._check(running)
            info = await self.objects.put_file(object_key, path, content_type=content_type)
            sizes.append(info.size)
            self._advance(running, sum(sizes) / total)
        running.progress.finish()
        running.dirty = True
        outputs = [
            ResultOutput(
                role=extra.role,
                key=object_key,
                size=size,
                content_type=extra.content_type,
                filename=extra.filename,
                info=extra.info,
            )
            for extra, object_key, size in zip(produced.extras, extra_keys, sizes[1:], strict=True)
        ]
        return ResultFile(
            key=key,
            size=sizes[0],
            content_type=produced.content_type,
            filename=produced.filename,
            media=produced.media,
            info=produced.info,
            outputs=outputs,
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
        jobdir = await asyncio.to_thread(scratch.create, base, f"detect-{job.task_id}", 0)
        workdir = jobdir.path
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
        except InvalidInput as exc:
            answer = _detection_failed(job, f"Could not look for a watermark: {exc.message}")
        except MediaCraftError as exc:  # storage or another backend: its text is for the log only
            log.warning("detection failed", task_id=job.task_id, error=exc.message, code=exc.code)
            answer = _detection_failed(job, "Could not look for a watermark just now; try again or draw the boxes.")
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
            await asyncio.to_thread(jobdir.remove)
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

    def _advance(self, running: _RunningJob, fraction: float, detail: str = "") -> None:
        before = running.progress.percent, running.progress.messages.get(running.progress.stage)
        running.progress.update(fraction, detail)
        said = bool(detail) and running.progress.say(detail)
        if said or (running.progress.percent, running.progress.messages.get(running.progress.stage)) != before:
            running.dirty = True

    def _enter(self, running: _RunningJob, name: str) -> None:
        """The processor moved on to its stage `name` (a name it did not declare is ignored: the
        list a client sees is the declared one)."""
        if name not in {stage.name for stage in running.progress.stages}:
            log.warning("the processor entered a stage it did not declare", stage=name)
            return
        if name != running.progress.stage:
            running.progress.enter(name, time.monotonic())
            running.dirty = True

    async def _tick(self, running: _RunningJob, cause: str) -> None:
        """Send throttled progress and periodic heartbeats until the job ends; stop the job when
        the broker has been out of reach for longer than the lease."""
        job = running.job
        last_beat = self._last_contact = time.monotonic()
        interval = self.settings.progress_interval_seconds
        lease = self.settings.lease_seconds
        while True:
            await asyncio.sleep(interval)
            now = time.monotonic()
            if now - self._last_contact >= lease:
                log.error("the broker is out of reach for longer than the lease: stopping the job", lease_seconds=lease)
                running.broker_lost = True
                running.cancel_event.set()
                return
            message: Message | None = None
            if running.dirty:
                running.dirty = False
                p = running.progress
                message = JobProgress(
                    task_id=job.task_id,
                    attempt=job.attempt,
                    percent=p.percent,
                    stage=p.stage,
                    stage_percent=round(p.stage_fraction * 100, 1),
                    eta_seconds=p.eta_seconds(now),
                    message=p.message,
                    subtasks=p.subtasks,
                )
            elif now - last_beat >= self.settings.heartbeat_seconds:
                message = JobHeartbeat(task_id=job.task_id, attempt=job.attempt, worker_id=self.worker_id)
            if message is None:
                continue
            last_beat = now
            try:
                # a publish waits through a reconnect, but never past the lease
                async with asyncio.timeout(max(interval, lease - (now - self._last_contact))):
                    await self._emit(message, job, cause)
            except Exception:  # a lost event is repaired by the next one; never kill the job for it
                log.warning("could not send progress", message_type=message.TYPE)

    @staticmethod
    def _failed(job: RunJob, exc: MediaCraftError) -> JobFailed:
        return JobFailed(
            task_id=job.task_id,
            attempt=job.attempt,
            code=exc.code,
            message=user_message(exc),
            retryable=isinstance(exc, RetryableError),
            retry_after_seconds=exc.delay if isinstance(exc, RetryableError) and exc.delay else None,
        )

    async def _emit(self, message: Message, job: RunJob, cause: str) -> None:
        if isinstance(message, JobFailed):
            job_failed(message.code, message.message)
        env = Envelope.wrap(message, correlation_id=job.task_id, causation_id=cause)
        await self.bus.publish(EVENTS, message.TYPE, env)
        self._last_contact = time.monotonic()


_OUTCOMES = {JobSucceeded.TYPE: "succeeded", JobFailed.TYPE: "failed", JobCancelled.TYPE: "cancelled"}


def method_of(config: dict[str, Any]) -> str:
    """The job config's `method` (how a watermark is removed) as a metric label; "" when none."""
    method = config.get("method")
    if not isinstance(method, str):
        return ""
    return method if len(method) <= 40 else "other"  # longer is none of ours: the label stays bounded


def user_message(exc: MediaCraftError) -> str:
    """What the person reads for a failed job: the input's fault is described as written (those
    messages are for the person who uploaded it), while a fault of the machine or of a backend
    reads as the error table's sentence for its code; its own text, which may name hosts, paths
    or keys, goes to the log only."""
    if isinstance(exc, InvalidInput):
        return exc.message
    text = sentence(exc.code)
    if text is None:
        return exc.message
    if text != exc.message:
        log.warning("job failed", code=exc.code, detail=exc.message)
    return text


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
        "duplicates_dropped": runtime.duplicates_dropped,
        "taking_jobs": runtime.taking_jobs and not runtime._stopping,
        "scratch_bytes": runtime.scratch_bytes,
        "scratch_free_bytes": runtime.scratch_free_bytes,
        "scratch_needed_bytes": runtime.scratch_needed_bytes,
        "jobs_handed_back_for_space": runtime.jobs_handed_back_for_space,
    }
