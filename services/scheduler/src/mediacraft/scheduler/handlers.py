"""One handler per message the scheduler consumes, ending in the table from message type to handler.

Each handler takes the message and the Context (store, publisher, clock, state, rules: the same five
for every handler, so they travel together). Handlers are idempotent: a duplicate or stale message
finds the task no longer in the state it expects and changes nothing. Dispatching whatever the
handler freed up happens after it, in the service.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from mediacraft.scheduler import controls, lifecycle
from mediacraft.scheduler.detections import on_detect, on_detection_finished, start_detections
from mediacraft.scheduler.fairness import WaitingTask
from mediacraft.scheduler.lifecycle import Context
from mediacraft.scheduler.operator_commands import on_apply_quotas, on_prioritise
from mediacraft.scheduler.recovery import reconcile, repair_due
from mediacraft.shared.logging import get_logger
from mediacraft.shared.messages import (
    ApplyQuotas,
    CancelTask,
    DetectionFinished,
    DetectWatermarks,
    JobCancelled,
    JobFailed,
    JobHeartbeat,
    JobProgress,
    JobStarted,
    JobSucceeded,
    Message,
    PrioritiseTask,
    ReconcileTasks,
    RetryDue,
    RetryTask,
    SubmitTask,
)
from mediacraft.shared.tasks import ControlKind, TaskStatus

log = get_logger("mediacraft.scheduler.handlers")

JOB_CANCELLED_BY_WORKER = "job_stopped_by_worker"


# --- commands -----------------------------------------------------------------------------------------


async def on_submit(cmd: SubmitTask, ctx: Context) -> None:
    """A task was queued by the gateway: put it in its user's line."""
    state = ctx.state
    if cmd.task_id in state.waiting or cmd.task_id in state.running or cmd.task_id in state.retrying:
        return
    if cmd.version is not None and cmd.submitted_at is not None:
        # the submitter says what it wrote: no read needed; the dispatch compare-and-set checks it
        entry = WaitingTask(cmd.task_id, cmd.user_id, cmd.task_type, cmd.submitted_at, cmd.version)
        entry.ready_at = cmd.submitted_at
        state.waiting.push(entry)
        return
    task = await ctx.store.get(cmd.task_id)
    if task is None or task.status != TaskStatus.QUEUED:
        return  # cancelled before we saw it, or a duplicate of a submit long done
    lifecycle.enqueue(ctx, task)


async def on_cancel(cmd: CancelTask, ctx: Context) -> None:
    """A person cancelled: waiting tasks end at once, running ones are asked to stop."""
    task = await ctx.store.get(cmd.task_id)
    if task is None or task.user_id != cmd.user_id:
        log.info("scheduler.cancel_ignored", task_id=cmd.task_id, reason="not found for this user")
        return
    if task.status == TaskStatus.CANCELLING:  # asked again: repeat the signal to its worker
        run = await lifecycle.running_attempt(ctx, task.task_id, task.attempts)
        if run is not None:
            await lifecycle.request_cancel(ctx, run)
    await controls.carry_out(ctx, task, ControlKind.CANCEL)


async def on_retry_task(cmd: RetryTask, ctx: Context) -> None:
    """A person retried a failed or cancelled task: it queues again with a fresh retry budget."""
    task = await ctx.store.get(cmd.task_id)
    if task is None or task.user_id != cmd.user_id:
        return
    await controls.carry_out(ctx, task, ControlKind.RETRY)


async def on_retry_due(cmd: RetryDue, ctx: Context) -> None:
    """A retry wait is over."""
    await lifecycle.requeue_retry(ctx, cmd.task_id, cmd.attempt)


async def on_reconcile(cmd: ReconcileTasks, ctx: Context) -> None:
    """A tick acts on lapsed leases, overdue retries and detections; any other reason also compares with the
    store and carries out the cancels and retries whose commands were lost."""
    if cmd.reason != "tick":
        await reconcile(ctx, takeover=False)
        await controls.carry_out_requested(ctx, await controls.load_controlled(ctx.store))
    await repair_due(ctx)
    await start_detections(ctx)


# --- worker events ----------------------------------------------------------------------------------


async def on_job_started(event: JobStarted, ctx: Context) -> None:
    """A worker took the job: the lease runs from now."""
    run = await lifecycle.running_attempt(ctx, event.task_id, event.attempt)
    if run is not None:
        await lifecycle.keep_alive(ctx, run)
        await lifecycle.repeat_stop(ctx, run)


async def on_job_heartbeat(event: JobHeartbeat, ctx: Context) -> None:
    """The worker is alive (and, if the attempt is cancelling, is told again to stop)."""
    run = await lifecycle.running_attempt(ctx, event.task_id, event.attempt)
    if run is not None:
        await lifecycle.keep_alive(ctx, run)
        await lifecycle.repeat_stop(ctx, run)


async def on_job_progress(event: JobProgress, ctx: Context) -> None:
    """Progress moves forward (throttled) and extends the lease."""
    run = await lifecycle.running_attempt(ctx, event.task_id, event.attempt)
    if run is not None:
        await lifecycle.record_progress(
            ctx,
            run,
            percent=event.percent,
            stage=event.stage,
            stage_percent=event.stage_percent,
            eta_seconds=event.eta_seconds,
            message=event.message,
            subtasks=event.subtasks,
        )
        await lifecycle.repeat_stop(ctx, run)


async def on_job_succeeded(event: JobSucceeded, ctx: Context) -> None:
    """The attempt produced its result."""
    run = await lifecycle.running_attempt(ctx, event.task_id, event.attempt)
    if run is not None:
        await lifecycle.succeed(ctx, run, event.result, subtasks=event.subtasks)


async def on_job_failed(event: JobFailed, ctx: Context) -> None:
    """The attempt failed: retry on the delay schedule if the failure may pass, else fail."""
    run = await lifecycle.running_attempt(ctx, event.task_id, event.attempt)
    if run is not None:
        await lifecycle.fail(
            ctx,
            run,
            code=event.code,
            message=event.message,
            retryable=event.retryable,
            retry_after_seconds=event.retry_after_seconds,
        )


async def on_job_cancelled(event: JobCancelled, ctx: Context) -> None:
    """The worker stopped the attempt: cancelled if a person asked, else retried like a lost worker."""
    run = await lifecycle.running_attempt(ctx, event.task_id, event.attempt)
    if run is None:
        return
    if run.cancelling:
        await lifecycle.cancelled(ctx, run)
    else:
        await lifecycle.fail(
            ctx,
            run,
            code=JOB_CANCELLED_BY_WORKER,
            message="The worker stopped the task before it finished.",
            retryable=True,
            lost=True,  # handed back at shutdown: another worker takes it at once
        )


Handler = Callable[[Any, Context], Awaitable[None]]

HANDLERS: dict[type[Message], Handler] = {
    SubmitTask: on_submit,
    CancelTask: on_cancel,
    RetryTask: on_retry_task,
    RetryDue: on_retry_due,
    ReconcileTasks: on_reconcile,
    JobStarted: on_job_started,
    JobHeartbeat: on_job_heartbeat,
    JobProgress: on_job_progress,
    JobSucceeded: on_job_succeeded,
    JobFailed: on_job_failed,
    JobCancelled: on_job_cancelled,
    DetectWatermarks: on_detect,
    DetectionFinished: on_detection_finished,
    PrioritiseTask: on_prioritise,
    ApplyQuotas: on_apply_quotas,
}
