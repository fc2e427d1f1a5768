"""Recovery and reconcile: make memory agree with the store, and repair what a lost message left.

On taking over (start, or becoming the active consumer) memory is rebuilt from scratch and running
attempts get one lease of grace, since the new scheduler cannot know what heartbeats its
predecessor saw. A requested reconcile compares instead of rebuilding, so turn order and leases
already tracked survive; it adopts what memory lacks and drops what the store has moved on from.

The periodic reconcile only adopts (a queued task whose SubmitTask was lost, a running one memory
forgot), and it reads the store outside the inbox lock so that a long line does not stall
dispatching: a snapshot read meanwhile may be older than memory, so it never drops anything (a
stale entry heals itself when its next write conflicts) and skips tasks memory knows or has
just ended.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from mediacraft.scheduler.lifecycle import (
    RUNNING,
    Context,
    cancel_recorded,
    lapse,
    progress_due,
    requeue_retry,
    retrying_from,
    running_from,
    waiting_from,
    write_progress,
)
from mediacraft.shared.logging import get_logger
from mediacraft.shared.ports.stores import TaskStore
from mediacraft.shared.tasks import ACTIVE_STATUSES, Task, TaskStatus
from mediacraft.shared.tracing import continued, get_tracer

log = get_logger("mediacraft.scheduler.recovery")
TRACER = get_tracer("mediacraft.scheduler")

PAGE = 1000


@dataclass(frozen=True)
class ReconcileReport:
    """What a reconcile found; all zeros means memory already agreed with the store."""

    adopted: int = 0
    dropped: int = 0
    active: int = 0


async def load_active(store: TaskStore) -> list[Task]:
    """Every queued, processing, retrying or cancelling task, oldest submitted first."""
    tasks: list[Task] = []
    after: str | None = None
    while True:
        page = await store.list_by_status(ACTIVE_STATUSES, limit=PAGE, after=after)
        tasks.extend(page)
        if len(page) < PAGE:
            return tasks
        after = page[-1].task_id


async def reconcile(ctx: Context, *, takeover: bool) -> ReconcileReport:
    """Bring memory in line with the store; on takeover, start from an empty memory."""
    tasks = await load_active(ctx.store)
    state, now = ctx.state, ctx.clock.now()
    if takeover:
        state.clear()
    by_id = {t.task_id: t for t in tasks}
    dropped = 0
    for entry in state.waiting.tasks():
        task = by_id.get(entry.task_id)
        if task is None or task.status != TaskStatus.QUEUED:
            state.waiting.remove(entry.task_id)
            dropped += 1
        else:
            entry.version, entry.attempts = task.version, task.attempts
            entry.cancel_requested = cancel_recorded(task)
    for task_id, run in list(state.running.items()):
        task = by_id.get(task_id)
        if task is None or task.status not in RUNNING or task.attempts != run.attempt:
            state.release(task_id)
            dropped += 1
        else:
            run.version, run.cancelling = task.version, task.status == TaskStatus.CANCELLING
            run.cancel_requested = cancel_recorded(task)
    for task_id, watch in list(state.retrying.items()):
        task = by_id.get(task_id)
        if task is None or task.status != TaskStatus.RETRYING or task.attempts != watch.attempt:
            del state.retrying[task_id]
            dropped += 1
    adopted = 0
    for task in tasks:
        if task.status == TaskStatus.QUEUED and task.task_id not in state.waiting:
            state.forget(task.task_id)
            state.release(task.task_id)
            state.waiting.push(waiting_from(task))
            adopted += 1
        elif task.status in RUNNING and task.task_id not in state.running:
            state.forget(task.task_id)
            started = task.started_at or now
            lease = ctx.rules.lease.after_takeover(task.lease_expires_at, now, started, task.task_type)
            state.start(running_from(task, lease))
            adopted += 1
        elif task.status == TaskStatus.RETRYING and task.task_id not in state.retrying:
            state.waiting.remove(task.task_id)
            state.release(task.task_id)
            state.retrying[task.task_id] = retrying_from(task, now)
            adopted += 1
    report = ReconcileReport(adopted=adopted, dropped=dropped, active=len(tasks))
    if takeover or adopted or dropped:
        log.info(
            "scheduler.reconciled",
            takeover=takeover,
            adopted=adopted,
            dropped=dropped,
            active=len(tasks),
            waiting=len(state.waiting),
            running=len(state.running),
            retrying=len(state.retrying),
        )
    return report


async def repair_due(ctx: Context) -> int:
    """Act on time: lapsed leases, retry waits whose message is overdue, throttled progress."""
    now, repaired = ctx.clock.now(), 0
    for run in list(ctx.state.running.values()):
        if ctx.rules.lease.lapsed(run.lease_expires_at, now):
            with continued(run.trace_context, "scheduler lease lapsed", tracer=TRACER, attributes=_about(run.task_id)):
                await lapse(ctx, run)
            repaired += 1
        elif run.progress_dirty and progress_due(ctx, run):
            await write_progress(ctx, run)
    grace = timedelta(seconds=ctx.rules.retry_grace_seconds)
    for watch in list(ctx.state.retrying.values()):
        if now >= watch.next_retry_at + grace:
            with continued(
                watch.trace_context, "scheduler retry overdue", tracer=TRACER, attributes=_about(watch.task_id)
            ):
                log.warning("scheduler.retry_overdue", task_id=watch.task_id, attempt=watch.attempt)
                await requeue_retry(ctx, watch.task_id, watch.attempt)
            repaired += 1
    return repaired


def _about(task_id: str) -> dict[str, str]:
    return {"mediacraft.task_id": task_id}


def adopt_missing(ctx: Context, snapshot: list[Task]) -> int:
    """Take into memory the active tasks of a store snapshot that memory neither knows nor ended."""
    state, now, adopted = ctx.state, ctx.clock.now(), 0
    for task in snapshot:
        if state.knows(task.task_id) or state.ended_recently(task.task_id):
            continue
        if task.status == TaskStatus.QUEUED:
            state.waiting.push(waiting_from(task))
        elif task.status in RUNNING:
            started = task.started_at or now
            lease = ctx.rules.lease.after_takeover(task.lease_expires_at, now, started, task.task_type)
            state.start(running_from(task, lease))
        elif task.status == TaskStatus.RETRYING:
            state.retrying[task.task_id] = retrying_from(task, now)
        else:
            continue
        adopted += 1
        log.warning("scheduler.adopted", task_id=task.task_id, status=task.status.value)
    return adopted
