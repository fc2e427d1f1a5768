"""A person's cancel or retry: carried out from its command, or from the store when the command was lost.

The gateway records the request on the task (`control`) before it publishes CancelTask or
RetryTask, so a command lost with the broker loses nothing: the reconcile finds the recorded
request and carries it out as the command would have. The transitions that carry one out
(cancel_waiting, request_cancel, restart) clear it in the same compare-and-set; a request the task
has made moot (it ended, or was cancelled or retried by other means meanwhile) is cleared on the
version it was read with, so a request recorded later (which bumps the version) is never lost.
"""

from __future__ import annotations

from datetime import timedelta

from mediacraft.scheduler import lifecycle
from mediacraft.scheduler.lifecycle import RUNNING, Context
from mediacraft.shared.logging import get_logger
from mediacraft.shared.ports.stores import TaskStore
from mediacraft.shared.tasks import CONTROL_STATUSES, ControlKind, Task

log = get_logger("mediacraft.scheduler.controls")

PAGE = 1000
ATTEMPTS = 3  # re-reads after a lost race (a queue position write, a request recorded meanwhile)
# A request younger than this is left to its command, which is normally a few milliseconds behind.
GRACE = timedelta(seconds=5)


async def carry_out(ctx: Context, task: Task, kind: ControlKind) -> Task:
    """Cancel or retry `task` (as just read) while its status allows it; returns the task as it ends up.

    Idempotent: a task already cancelled, cancelling or queued again is left as it is, and a
    recorded request it has made moot is cleared.
    """
    task = await settle(ctx, task)
    for _ in range(ATTEMPTS):
        if task.status not in CONTROL_STATUSES[kind]:
            break
        if kind is ControlKind.RETRY:
            await lifecycle.restart(ctx, task)
        elif task.status in RUNNING:
            run = await lifecycle.running_attempt(ctx, task.task_id, task.attempts)
            if run is not None:
                await lifecycle.request_cancel(ctx, run)
        else:
            await lifecycle.cancel_waiting(ctx, task)
        fresh = await ctx.store.get(task.task_id)
        if fresh is None:
            return task
        task = fresh
    return await settle(ctx, task)


async def settle(ctx: Context, task: Task) -> Task:
    """Clear a requested control that the task's status no longer allows (it ended or moved on)."""
    if task.control is None or task.pending_control is not None:
        return task
    cleared = await ctx.store.clear_control(task.task_id, expected_version=task.version)
    return task if cleared is None else cleared


async def load_controlled(store: TaskStore) -> list[Task]:
    """Every task with a requested control, by id."""
    tasks: list[Task] = []
    after: str | None = None
    while True:
        page = await store.list_controlled(limit=PAGE, after=after)
        tasks.extend(page)
        if len(page) < PAGE:
            return tasks
        after = page[-1].task_id


async def carry_out_requested(ctx: Context, snapshot: list[Task]) -> int:
    """Carry out the requests of a snapshot whose command never arrived; returns how many were acted on.

    Each task is read again first (the snapshot may be old); a request younger than GRACE is left to
    its command, and one the task has made moot is only cleared.
    """
    now, acted = ctx.clock.now(), 0
    for seen in snapshot:
        task = await ctx.store.get(seen.task_id)
        if task is None or task.control is None:
            continue
        kind = task.pending_control
        if kind is None:
            await settle(ctx, task)
            continue
        if now - task.control.requested_at < GRACE:
            continue
        log.warning(
            "scheduler.control_carried_out",
            task_id=task.task_id,
            control=kind.value,
            status=task.status.value,
            requested_at=task.control.requested_at.isoformat(),
        )
        await carry_out(ctx, task, kind)
        acted += 1
    return acted
