"""The lifecycle steps that handlers share: queue, dispatch, progress, finish, retry or fail, cancel.

Every write is a compare-and-set on (status, version). The in-memory state is a cache: when a
write conflicts, the step re-reads the task and either retries with the fresh version or, when the
attempt has ended elsewhere, drops it from memory (releasing its slot exactly once).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from mediacraft.scheduler.fairness import WaitingTask
from mediacraft.scheduler.leases import TIMED_OUT, WORKER_LOST, lapse_message
from mediacraft.scheduler.metrics import SchedulerMetrics
from mediacraft.scheduler.publisher import Publisher
from mediacraft.scheduler.retry_policy import GiveUp, RetryLater
from mediacraft.scheduler.rules import Rules
from mediacraft.scheduler.state import RetryingTask, RunningTask, SchedulerState
from mediacraft.shared import transitions
from mediacraft.shared.clock import Clock
from mediacraft.shared.error_texts import text
from mediacraft.shared.errors import Conflict, NotFound
from mediacraft.shared.logging import get_logger
from mediacraft.shared.ports.bus import BusUnavailable, Unroutable
from mediacraft.shared.ports.stores import TaskStore, VideoStore
from mediacraft.shared.tasks import (
    POOL_OF_TYPE,
    TERMINAL_STATUSES,
    ControlKind,
    ResultFile,
    SubTask,
    Task,
    TaskError,
    TaskStatus,
    all_completed,
    upsert_subtask,
)
from mediacraft.shared.tracing import continued, get_tracer
from mediacraft.shared.transitions import Transition
from mediacraft.shared.videos import NO_VIDEO_TYPES, video_of_result

log = get_logger("mediacraft.scheduler")
TRACER = get_tracer("mediacraft.scheduler")

QUEUED, PROCESSING, CANCELLING = TaskStatus.QUEUED, TaskStatus.PROCESSING, TaskStatus.CANCELLING
RUNNING = frozenset({PROCESSING, CANCELLING})
CANCELLED_MESSAGE = text("cancelled")  # the error table's sentences: the gateway translates them
PUBLISH_ERRORS = (BusUnavailable, Unroutable)


@dataclass
class Context:
    """What every handler gets: the store, the publisher, the clock, the state and the rules (and
    the metrics the steps record)."""

    store: TaskStore
    publisher: Publisher
    clock: Clock
    state: SchedulerState
    rules: Rules
    causation_id: str | None = None
    metrics: SchedulerMetrics = field(default_factory=SchedulerMetrics)


# --- building memory from store documents ---------------------------------------------------------


def waiting_from(task: Task, ready_at: datetime | None = None) -> WaitingTask:
    """The waiting-line entry of a queued task; `ready_at`: when it became queued, if known."""
    return WaitingTask(
        task.task_id,
        task.user_id,
        task.task_type,
        task.submitted_at or task.created_at,
        task.version,
        task.attempts,
        position=task.queue_position,
        message=task.message,
        cancel_requested=cancel_recorded(task),
        ready_at=ready_at or ready_since(task),
    )


def ready_since(task: Task) -> datetime:
    """When a queued task read from the store became queued, as well as the store tells.

    A first attempt and a restart (which resets the retry counts) are queued since `submitted_at`;
    a task put back after a retry wait or a lost worker keeps its first submission time, so its
    last write (`updated_at`, a later queue-position write included) stands in: its wait is then
    counted from there, never longer than it was.
    """
    submitted = task.submitted_at or task.created_at
    if task.retry_count == 0 and task.lost_redispatches == 0:
        return submitted
    return task.updated_at or submitted


def running_from(task: Task, lease: datetime) -> RunningTask:
    """The slot of a processing or cancelling task."""
    return RunningTask(
        task.task_id,
        task.user_id,
        task.task_type,
        task.attempts,
        task.version,
        started_at=task.started_at or task.updated_at or task.created_at,
        lease_expires_at=lease,
        retry_count=task.retry_count,
        max_retries=task.max_retries,
        lost_redispatches=task.lost_redispatches,
        stored_lease=task.lease_expires_at,
        cancelling=task.status == CANCELLING,
        progress=task.progress,
        stage=task.stage,
        subtasks=list(task.subtasks),
        eta_seconds=task.eta_seconds,
        cancel_requested=cancel_recorded(task),
        trace_context=task.trace_context,
    )


def cancel_recorded(task: Task) -> bool:
    """Whether a person's cancel is recorded on the task and not carried out yet."""
    return task.pending_control is ControlKind.CANCEL


def retrying_from(task: Task, now: datetime) -> RetryingTask:
    """The retry watch of a retrying task."""
    return RetryingTask(
        task.task_id, task.user_id, task.attempts, task.next_retry_at or now, trace_context=task.trace_context
    )


def enqueue(ctx: Context, task: Task) -> None:
    """Put a queued task in its user's line (idempotent)."""
    ctx.state.forget(task.task_id)
    ctx.state.waiting.push(waiting_from(task, ready_at=ctx.clock.now()))  # queued by the write just made


# --- dispatch ---------------------------------------------------------------------------------------


async def dispatch_ready(ctx: Context, causes: list[str] | None = None) -> int:
    """Start waiting tasks while the quotas allow, in fair order; returns how many started.

    Every task that may start is taken from the line and its slot counted at once, so the store
    writes of several dispatches are in flight together (a batch that freed five slots costs one
    round trip to the store, not five) and the quotas hold while they are. A dispatch that does
    not happen gives its slot back; one whose write failed goes back in line and the error is
    raised, so the caller tries again. `causes` names the messages that made room, in order: the
    n-th job started gets the n-th as its causation id (the last one beyond them).
    """
    taken: list[WaitingTask] = []
    cancelled: list[WaitingTask] = []
    while (entry := ctx.state.next_to_start()) is not None:
        if entry.cancel_requested:
            cancelled.append(entry)  # out of the line, and it takes no slot
            continue
        ctx.state.reserve(entry)
        taken.append(entry)
    for entry in cancelled:
        await _cancel_instead(ctx, entry)
    if not taken:
        return 0
    contexts = [
        ctx if not causes else replace(ctx, causation_id=causes[min(n, len(causes) - 1)]) for n in range(len(taken))
    ]
    outcomes = await asyncio.gather(
        *(_start_reserved(c, e) for c, e in zip(contexts, taken, strict=True)), return_exceptions=True
    )
    errors = [o for o in outcomes if isinstance(o, BaseException)]
    if errors:
        raise errors[0]
    return sum(1 for o in outcomes if o is True)


async def _cancel_instead(ctx: Context, entry: WaitingTask) -> None:
    """A waiting task read with a cancel recorded on it: cancel it rather than start it."""
    task = await ctx.store.get(entry.task_id)
    if task is None or task.status != QUEUED:
        return  # ended or started elsewhere: no longer waiting here
    if cancel_recorded(task):
        log.info("scheduler.cancel_carried_out", task_id=task.task_id, via="dispatch")
        await cancel_waiting(ctx, task)  # on a conflict the next reconcile finds it again
        return
    enqueue(ctx, task)  # the request is gone meanwhile: it waits again


async def _start_reserved(ctx: Context, entry: WaitingTask) -> bool:
    try:
        started = await _start(ctx, entry)
    except BaseException:
        if entry.task_id not in ctx.state.running:  # the write failed, not what came after it
            ctx.state.unreserve(entry)
            ctx.state.waiting.push(entry)  # still queued as far as this scheduler knows: try again
        raise
    if not started:
        ctx.state.unreserve(entry)
    return started


async def _start(ctx: Context, entry: WaitingTask) -> bool:
    task = None
    for _ in range(2):
        now = ctx.clock.now()
        lease = ctx.rules.lease.at_dispatch(now)
        try:
            task = await ctx.store.transition(
                entry.task_id,
                transitions.DISPATCH,
                expected_version=entry.version,
                changes={
                    "attempts": entry.attempts + 1,
                    "max_retries": ctx.rules.max_retries,
                    "started_at": now,
                    "lease_expires_at": lease,
                    "queue_position": None,
                    "message": None,
                    "progress": 0.0,
                    "stage": None,
                    "subtasks": [],
                    "eta_seconds": None,
                    "next_retry_at": None,
                },
            )
            break
        except NotFound:
            return False
        except Conflict:
            fresh = await ctx.store.get(entry.task_id)
            if fresh is None or fresh.status != QUEUED:
                return False  # cancelled or started elsewhere: it is no longer waiting
            if fresh.pending_control is ControlKind.CANCEL:
                await cancel_waiting(ctx, fresh)  # cancelled meanwhile, its message late or lost
                return False
            entry.version, entry.attempts = fresh.version, fresh.attempts
    if task is None:
        return False  # still racing after a fresh read; the next reconcile puts it back in line
    run = running_from(task, task.lease_expires_at or ctx.clock.now())
    run.worker_started = False  # the job may wait in its pool's queue: the start timeout applies
    ctx.state.start(run, reserved=True)
    # if the job never reaches a worker, the lease lapses and the attempt is retried
    deadline = ctx.rules.lease.max_run(task.task_type)
    waited = (task.started_at or ctx.clock.now()) - (entry.ready_at or task.started_at or ctx.clock.now())
    # in the task's own trace: a dispatch happens while handling whichever message freed the slot
    with continued(task.trace_context, "scheduler dispatch", tracer=TRACER, attributes=_dispatch_attributes(task)):
        await ctx.publisher.run_job(task, deadline_seconds=deadline, causation_id=ctx.causation_id)
        ctx.publisher.status_changed(task, QUEUED, causation_id=ctx.causation_id)
        ctx.metrics.dispatch_latency.labels(POOL_OF_TYPE[task.task_type]).observe(max(0.0, waited.total_seconds()))
        log.debug("scheduler.dispatched", task_id=task.task_id, user_id=task.user_id, attempt=task.attempts)
    return True


def _dispatch_attributes(task: Task) -> dict[str, Any]:
    return {
        "mediacraft.task_id": task.task_id,
        "mediacraft.attempt": task.attempts,
        "mediacraft.pool": POOL_OF_TYPE[task.task_type],
    }


# --- running attempts -------------------------------------------------------------------------------


async def running_attempt(ctx: Context, task_id: str, attempt: int) -> RunningTask | None:
    """The slot of this very attempt, or None for a stale or unknown attempt (events to ignore).

    When memory lacks a slot that the store says is running, it is adopted (memory was behind).
    """
    run = ctx.state.running.get(task_id)
    if run is not None:
        return run if run.attempt == attempt else None
    task = await ctx.store.get(task_id)
    if task is None or task.status not in RUNNING or task.attempts != attempt:
        return None
    now = ctx.clock.now()
    lease = ctx.rules.lease.after_takeover(task.lease_expires_at, now, task.started_at or now, task.task_type)
    ctx.state.forget(task_id)
    run = running_from(task, lease)
    ctx.state.start(run)
    log.warning("scheduler.adopted_running_task", task_id=task_id, attempt=attempt)
    return run


def extend_lease(ctx: Context, run: RunningTask) -> None:
    """News from the worker: the lease runs on from now (never past the run-time limit).

    The first news ends the wait for a worker: the run-time limit counts from it, and the lease
    becomes an ordinary one (shorter than the start timeout it replaces).
    """
    now = ctx.clock.now()
    if not run.worker_started:
        run.worker_started, run.started_at = True, now
        run.lease_expires_at = ctx.rules.lease.extend(now, now, run.task_type)
        return
    fresh = ctx.rules.lease.extend(now, run.started_at, run.task_type)
    if fresh > run.lease_expires_at:
        run.lease_expires_at = fresh


async def keep_alive(ctx: Context, run: RunningTask) -> None:
    """Extend the lease; write it (with any pending progress) when the stored one lags far behind."""
    extend_lease(ctx, run)
    if ctx.rules.lease.store_lags(run.stored_lease, run.lease_expires_at):
        await write_progress(ctx, run)


async def record_progress(
    ctx: Context,
    run: RunningTask,
    *,
    percent: float,
    stage: str,
    stage_percent: float,
    eta_seconds: float | None,
    message: str | None = None,
    subtasks: list[SubTask] | None = None,
) -> None:
    """Move progress forward (a late 60% never overwrites 80%), writing at most once per throttle."""
    extend_lease(ctx, run)
    if percent < run.progress:
        await keep_alive(ctx, run)
        return
    stage_changed = stage != run.stage
    if subtasks is not None:
        run.subtasks = list(subtasks)  # the worker's whole list of its declared stages
    else:  # an older worker names only its current stage
        run.subtasks = upsert_subtask(run.subtasks, stage, stage_percent)
    run.progress, run.stage, run.eta_seconds = percent, stage, eta_seconds
    if message:
        run.message = message
    run.progress_dirty = True
    if (
        stage_changed
        or percent >= 100
        or progress_due(ctx, run)
        or ctx.rules.lease.store_lags(run.stored_lease, run.lease_expires_at)
    ):
        await write_progress(ctx, run)


def progress_due(ctx: Context, run: RunningTask) -> bool:
    """Whether the throttle lets a progress write through now."""
    if run.progress_written_at is None:
        return True
    elapsed = (ctx.clock.now() - run.progress_written_at).total_seconds()
    return elapsed >= ctx.rules.progress_throttle_seconds


async def write_progress(ctx: Context, run: RunningTask) -> None:
    """Write progress and lease of a running attempt and tell live views (no version bump)."""
    task = await ctx.store.update_progress(
        run.task_id,
        attempt=run.attempt,
        progress=run.progress,
        stage=run.stage,
        subtasks=list(run.subtasks) or None,
        eta_seconds=run.eta_seconds,
        message=run.message,
        lease_expires_at=run.lease_expires_at,
    )
    run.progress_written_at = ctx.clock.now()
    run.progress_dirty = False
    if task is not None:
        run.stored_lease = run.lease_expires_at
        ctx.publisher.progressed(task, causation_id=ctx.causation_id)


# The transition a running attempt takes, with its changes, chosen from the attempt as last read.
Step = Callable[[RunningTask], tuple[Transition, dict[str, Any]]]


async def _write_running(ctx: Context, run: RunningTask, step: Step) -> Task | None:
    """Transition a running attempt; None (slot released) when the store says it already ended."""
    if run.cancel_requested and not run.cancelling and step(run)[0] is not transitions.REQUEST_CANCEL:
        # read with a cancel recorded on it: the cancel comes first, so the attempt ends cancelled
        await _cancel_first(ctx, run)
    for _ in range(3):
        transition, changes = step(run)
        try:
            return await ctx.store.transition(run.task_id, transition, expected_version=run.version, changes=changes)
        except NotFound:
            break
        except Conflict:
            fresh = await ctx.store.get(run.task_id)
            if fresh is None or fresh.status not in RUNNING or fresh.attempts != run.attempt:
                break
            run.version, run.cancelling = fresh.version, fresh.status == CANCELLING
            if fresh.pending_control is ControlKind.CANCEL and transition is not transitions.REQUEST_CANCEL:
                # a person cancelled meanwhile and the message is late or lost: the attempt ends
                # cancelled, whatever it was about to become (a result is not kept)
                await _cancel_first(ctx, run)
    ctx.state.release(run.task_id)
    return None


async def _cancel_first(ctx: Context, run: RunningTask) -> None:
    """Mark a running attempt cancelling, carrying out the cancel recorded on it (a conflict: re-read)."""
    try:
        task = await ctx.store.transition(
            run.task_id, transitions.REQUEST_CANCEL, expected_version=run.version, changes=_CANCELLING
        )
    except (Conflict, NotFound):
        return
    run.version, run.cancelling, run.cancel_requested = task.version, True, False
    ctx.publisher.status_changed(task, PROCESSING, causation_id=ctx.causation_id)
    log.info("scheduler.cancel_carried_out", task_id=run.task_id, attempt=run.attempt, via="conflict")


# what marks a running attempt cancelling; the person's cancel request is carried out with it
_CANCELLING: dict[str, Any] = {"message": text("cancelling"), "control": None}


def _cancelled(now: datetime) -> dict[str, Any]:
    return {
        "completed_at": now,
        "lease_expires_at": None,
        "next_retry_at": None,
        "queue_position": None,
        "eta_seconds": None,
        "message": CANCELLED_MESSAGE,
    }


async def succeed(
    ctx: Context, run: RunningTask, result: ResultFile, *, subtasks: list[SubTask] | None = None
) -> Task | None:
    """The attempt finished: completed, or cancelled if a person asked to cancel meanwhile.
    `subtasks`: the worker's final list of stages (every one completed), else the last one seen."""

    def step(r: RunningTask) -> tuple[Transition, dict[str, Any]]:
        now = ctx.clock.now()
        if r.cancelling:
            return transitions.CONFIRM_CANCEL, _cancelled(now)
        return transitions.COMPLETE, {
            "progress": 100.0,
            "subtasks": all_completed(subtasks if subtasks else r.subtasks),
            "result": result,
            "completed_at": now,
            "lease_expires_at": None,
            "next_retry_at": None,
            "eta_seconds": 0.0,
            "message": None,
            "error": None,
            "error_message": None,
        }

    task = await _end(ctx, run, step)
    if task is not None and task.status is TaskStatus.COMPLETED:
        await record_video(ctx, task)
    return task


async def record_video(ctx: Context, task: Task) -> None:
    """A completed video result becomes one of its owner's videos (a reprocess's rendition does
    not: it belongs to the video it was made from). Idempotent (a redelivered success records it
    again, to the same record); a store fault is logged and leaves the video out of the library,
    while the task's completion and its result stand."""
    if task.task_type in NO_VIDEO_TYPES:
        return
    video = video_of_result(task)
    if video is None or not isinstance(ctx.store, VideoStore):
        return
    try:
        await ctx.store.put_video(video)
    except Exception as exc:  # the completion is written and announced already
        log.warning("could not record the result's video", task_id=task.task_id, error=repr(exc))


async def cancelled(ctx: Context, run: RunningTask) -> Task | None:
    """The worker confirmed a cancel (or the cancelling attempt's lease lapsed)."""
    return await _end(ctx, run, lambda r: (transitions.CONFIRM_CANCEL, _cancelled(ctx.clock.now())))


async def _end(ctx: Context, run: RunningTask, step: Step) -> Task | None:
    previous = CANCELLING if run.cancelling else PROCESSING
    task = await _write_running(ctx, run, step)
    if task is not None:
        ctx.state.release(run.task_id)
        if task.status in TERMINAL_STATUSES:
            ctx.state.mark_ended(task.task_id)
        ctx.publisher.status_changed(task, previous, causation_id=ctx.causation_id)
        _count_end(ctx, task)
    return task


def _count_end(ctx: Context, task: Task) -> None:
    """Count what an attempt's end made of its task: completed, failed, or put back for a retry."""
    code = task.error.code if task.error is not None else ""
    if task.status == TaskStatus.COMPLETED:
        ctx.metrics.tasks_completed.labels(POOL_OF_TYPE[task.task_type]).inc()
    elif task.status == TaskStatus.FAILED:
        ctx.metrics.task_failures.labels(code).inc()
    elif task.status in (TaskStatus.RETRYING, QUEUED):  # after a retry delay, or at once for a lost worker
        ctx.metrics.retries_scheduled.labels(code).inc()


# A job lost with its worker is dispatched again at once this many times per series of attempts
# (the delivery limit bounds a job that kills its worker); after that it fails plainly.
LOST_REDISPATCHES = 3
LOST_WORKER_MESSAGE = text("workers_lost")


async def fail(
    ctx: Context,
    run: RunningTask,
    *,
    code: str,
    message: str,
    retryable: bool,
    lost: bool = False,
    retry_after_seconds: float | None = None,
) -> Task | None:
    """The attempt failed: retry after the next delay step, or fail for good with a clear message.

    `retry_after_seconds`: the wait the backend asked for; the retry waits the first delay step at
    least that long (never less than its own step).

    `lost`: the attempt was lost with its worker (lease lapsed, or handed back at shutdown): it goes
    back in line at once, costing no retry, up to LOST_REDISPATCHES times.
    """
    decisions: dict[str, RetryLater | GiveUp] = {}

    def step(r: RunningTask) -> tuple[Transition, dict[str, Any]]:
        now = ctx.clock.now()
        if r.cancelling:
            return transitions.CONFIRM_CANCEL, _cancelled(now)
        if lost and r.lost_redispatches < LOST_REDISPATCHES:
            return transitions.REQUEUE_LOST, {
                "lost_redispatches": r.lost_redispatches + 1,
                "lease_expires_at": None,
                "next_retry_at": None,
                "eta_seconds": None,
                "error": TaskError(code=code, message=message, retryable=True),
                "error_message": message,
                "message": None,
            }
        if lost:
            return transitions.FAIL, {
                "completed_at": now,
                "lease_expires_at": None,
                "next_retry_at": None,
                "eta_seconds": None,
                "error": TaskError(code=code, message=LOST_WORKER_MESSAGE, retryable=False),
                "error_message": LOST_WORKER_MESSAGE,
                "message": LOST_WORKER_MESSAGE,
            }
        budget = ctx.rules.max_retries if r.max_retries is None else r.max_retries
        decision = decisions["last"] = ctx.rules.retry.decide(
            retry_count=r.retry_count,
            max_retries=budget,
            retryable=retryable,
            message=message,
            now=now,
            at_least_ms=round(retry_after_seconds * 1000) if retry_after_seconds else 0,
        )
        if isinstance(decision, RetryLater):
            return transitions.SCHEDULE_RETRY, {
                "retry_count": decision.retry_count,
                "next_retry_at": decision.next_retry_at,
                "lease_expires_at": None,
                "eta_seconds": None,
                "error": TaskError(code=code, message=message, retryable=True),
                "error_message": message,
                "message": text("retry_scheduled", n=decision.retry_count, max=budget, reason=message),
            }
        return transitions.FAIL, {
            "completed_at": now,
            "lease_expires_at": None,
            "next_retry_at": None,
            "eta_seconds": None,
            "error": TaskError(code=code, message=decision.message, retryable=retryable),
            "error_message": decision.message,
            "message": decision.message,
        }

    task = await _end(ctx, run, step)
    if task is not None and task.status == QUEUED:
        enqueue(ctx, task)  # its slot is free: it starts again as soon as the quotas allow
        await dispatch_ready(ctx)
        return task
    decision = decisions.get("last")
    if task is not None and task.status == TaskStatus.RETRYING and isinstance(decision, RetryLater):
        ctx.state.retrying[task.task_id] = retrying_from(task, ctx.clock.now())
        try:
            await ctx.publisher.retry_due(task.task_id, task.attempts, decision.delay_ms, causation_id=ctx.causation_id)
        except PUBLISH_ERRORS as exc:
            # the reconcile requeues a retrying task whose wait is over, message or not
            log.error("scheduler.retry_not_scheduled", task_id=task.task_id, error=str(exc))
    return task


async def lapse(ctx: Context, run: RunningTask) -> Task | None:
    """The lease ran out: abandon the attempt (retry it, or end a cancel) and tell its worker to stop."""
    now = ctx.clock.now()
    code = ctx.rules.lease.lapse_code(now, run.started_at, run.task_type, worker_started=run.worker_started)
    log.warning("scheduler.lease_lapsed", task_id=run.task_id, attempt=run.attempt, code=code)
    ctx.metrics.lease_lapses.inc()
    if run.cancelling:
        task = await cancelled(ctx, run)
    else:
        message = lapse_message(code, run.task_type, ctx.rules.lease)
        retryable = True
        if code == TIMED_OUT:
            # an input that hangs hangs again: one more try, not the whole retry budget. The error
            # the task still carries is its previous attempt's (a dispatch does not clear it)
            stored = await ctx.store.get(run.task_id)
            if stored is not None and stored.error is not None and stored.error.code == TIMED_OUT:
                retryable = False
                message = f"{message.rstrip('.')} twice in a row, so it was stopped."
        lost = code == WORKER_LOST
        task = await fail(ctx, run, code=code, message=message, retryable=retryable, lost=lost)
    await stop_worker(ctx, run.task_id, run.attempt)
    return task


async def stop_worker(ctx: Context, task_id: str, attempt: int) -> None:
    """Send a cancel signal for an attempt; a lost signal only costs a worker some useless work."""
    try:
        await ctx.publisher.cancel_job(task_id, attempt, causation_id=ctx.causation_id)
    except PUBLISH_ERRORS as exc:
        log.error("scheduler.cancel_not_sent", task_id=task_id, attempt=attempt, error=str(exc))


# A cancelling attempt's worker that still reports on it did not get (or has not acted on) its stop
# signal: it may have been reconnecting when the signal was sent, and a signal is not kept for a
# worker that is away. Its news is answered with the signal again, at most this often.
STOP_REPEAT = timedelta(seconds=5)


async def repeat_stop(ctx: Context, run: RunningTask) -> None:
    """News from the worker of a cancelling attempt: send the stop signal again (throttled)."""
    now = ctx.clock.now()
    if not run.cancelling or (run.stop_sent_at is not None and now - run.stop_sent_at < STOP_REPEAT):
        return
    log.info("scheduler.stop_repeated", task_id=run.task_id, attempt=run.attempt)
    run.stop_sent_at = now
    await stop_worker(ctx, run.task_id, run.attempt)


async def request_cancel(ctx: Context, run: RunningTask) -> Task | None:
    """A person cancelled a running task: mark it cancelling and signal its worker."""
    if run.cancelling:
        run.stop_sent_at = ctx.clock.now()
        await stop_worker(ctx, run.task_id, run.attempt)  # asked again: repeat the signal
        return None
    task = await _write_running(ctx, run, lambda r: (transitions.REQUEST_CANCEL, _CANCELLING))
    if task is None:
        return None
    run.version, run.cancelling = task.version, task.status == CANCELLING
    run.cancel_requested = False
    ctx.publisher.status_changed(task, PROCESSING, causation_id=ctx.causation_id)
    run.stop_sent_at = ctx.clock.now()
    await stop_worker(ctx, run.task_id, run.attempt)
    return task


# --- waiting and retrying tasks ---------------------------------------------------------------------


async def cancel_waiting(ctx: Context, task: Task) -> Task | None:
    """Cancel a queued or retrying task at once; it never starts."""
    try:
        done = await ctx.store.transition(
            task.task_id,
            transitions.CANCEL_WAITING,
            expected_version=task.version,
            changes={**_cancelled(ctx.clock.now()), "control": None},
        )
    except (Conflict, NotFound):
        return None
    ctx.state.forget(task.task_id)
    ctx.state.mark_ended(task.task_id)
    ctx.publisher.status_changed(done, task.status, causation_id=ctx.causation_id)
    return done


async def requeue_retry(ctx: Context, task_id: str, attempt: int) -> Task | None:
    """A retry wait is over: the task joins its user's line again (where its submission puts it)."""
    task = await ctx.store.get(task_id)
    if task is None or task.status != TaskStatus.RETRYING or task.attempts != attempt:
        watch = ctx.state.retrying.get(task_id)
        if watch is not None and watch.attempt == attempt:
            ctx.state.retrying.pop(task_id)
        return None
    if task.pending_control is ControlKind.CANCEL:
        await cancel_waiting(ctx, task)  # cancelled during its wait, the message late or lost
        return None
    try:
        queued = await ctx.store.transition(
            task_id,
            transitions.REQUEUE,
            expected_version=task.version,
            changes={"next_retry_at": None, "message": None},
        )
    except (Conflict, NotFound):
        return None
    enqueue(ctx, queued)
    ctx.publisher.status_changed(queued, TaskStatus.RETRYING, causation_id=ctx.causation_id)
    return queued


async def restart(ctx: Context, task: Task) -> Task | None:
    """A person retried a failed or cancelled task: a fresh series of attempts, same parameters."""
    now = ctx.clock.now()
    try:
        queued = await ctx.store.transition(
            task.task_id,
            transitions.RESTART,
            expected_version=task.version,
            changes={
                "submitted_at": now,
                "retry_count": 0,
                "lost_redispatches": 0,
                "next_retry_at": None,
                "progress": 0.0,
                "stage": None,
                "subtasks": [],
                "eta_seconds": None,
                "result": None,
                "error": None,
                "error_message": None,
                "message": None,
                "started_at": None,
                "completed_at": None,
                "lease_expires_at": None,
                "control": None,
            },
        )
    except (Conflict, NotFound):
        return None
    enqueue(ctx, queued)
    ctx.publisher.status_changed(queued, task.status, causation_id=ctx.causation_id)
    return queued
