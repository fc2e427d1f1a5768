"""Requests about existing tasks: cancel, retry, detect the watermark, hide, clear finished, mark notified.

Cancel and retry of submitted tasks are requests to the scheduler, which decides and writes; the
gateway writes only drafts (a draft is cancelled here at once), the user-owned flags and the
requested control. A request is first recorded on the task (`control`, not a status write), then
published with the gateway's short publish timeout: when the message cannot be sent the recorded
request stands, the answer is still 202 and says so, and the scheduler's reconcile carries it out.
When the store cannot be read or written the answer is 503 with Retry-After and nothing changed.
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from mediacraft.gateway.context import GatewayContext
from mediacraft.gateway.envelope import ApiError
from mediacraft.gateway.ownership import owned_task
from mediacraft.gateway.status_events import publish_status
from mediacraft.gateway.waiting_cap import check_waiting_cap
from mediacraft.shared import transitions
from mediacraft.shared.error_texts import text
from mediacraft.shared.errors import Conflict, MediaCraftError
from mediacraft.shared.logging import get_logger
from mediacraft.shared.messages import CancelTask, DetectWatermarks, Message, RetryTask
from mediacraft.shared.messages.envelope import new_id
from mediacraft.shared.object_keys import upload_prefix
from mediacraft.shared.tasks import (
    DRAFT_STATUSES,
    TERMINAL_STATUSES,
    ControlKind,
    RequestedControl,
    Task,
    TaskDetection,
    TaskStatus,
    TaskType,
)
from mediacraft.shared.topology import COMMANDS, SCHEDULER_KEY

log = get_logger(__name__)

T = TypeVar("T")

MAX_CLEARED = 10_000
STORE_RETRY_AFTER_SECONDS = 5
STORE_DOWN = "Tasks cannot be changed just now; nothing was changed, try again in a few seconds"
# What a 202 says when the request is recorded but its message could not be sent in time.
DELAYED: dict[ControlKind, str] = {
    ControlKind.CANCEL: "The cancel is recorded and will take effect shortly: the task service is slow to answer",
    ControlKind.RETRY: "The retry is recorded and the task will queue again shortly: the task service is slow"
    " to answer",
}


@dataclass(frozen=True)
class ControlAnswer:
    """A cancel or retry as answered: the task, and a sentence when its message is delayed."""

    task: Task
    notice: str | None = None


async def cancel(ctx: GatewayContext, user_id: str, task_id: str) -> ControlAnswer:
    """Cancel a draft at once; record a cancel of a submitted task and ask the scheduler to carry it out."""
    task = await _stored(owned_task(ctx, task_id, user_id))
    if task.status in TERMINAL_STATUSES:
        raise ApiError("not_cancellable", f"The task is already {task.status.value}")
    if task.status in DRAFT_STATUSES:
        return ControlAnswer(await _cancel_draft(ctx, task))
    if task.status is TaskStatus.CANCELLING:
        return ControlAnswer(task)  # already being cancelled
    return await _request(ctx, task, ControlKind.CANCEL, CancelTask(task_id=task_id, user_id=user_id))


async def _cancel_draft(ctx: GatewayContext, task: Task) -> Task:
    now = ctx.clock.now()
    try:
        cancelled = await _stored(
            ctx.store.transition(
                task.task_id,
                transitions.CANCEL_DRAFT,
                expected_version=task.version,
                changes={"completed_at": now, "message": text("cancelled")},
            )
        )
    except Conflict:
        raise ApiError("conflict", "The task changed meanwhile; fetch its status and try again") from None
    for item in task.inputs:
        ctx.cache.discard(item.key)
    await ctx.objects.delete_prefix(upload_prefix(task.user_id, task.task_id))
    await publish_status(ctx, cancelled, task.status)
    return cancelled


async def retry(ctx: GatewayContext, user_id: str, task_id: str) -> ControlAnswer:
    """Record a retry of a failed or cancelled task and ask the scheduler to run it again."""
    task = await _stored(owned_task(ctx, task_id, user_id))
    if task.status not in (TaskStatus.FAILED, TaskStatus.CANCELLED) or task.submitted_at is None:
        raise ApiError("not_retryable", "Only a submitted task that failed or was cancelled can be retried")
    await _stored(check_waiting_cap(ctx, user_id))
    return await _request(ctx, task, ControlKind.RETRY, RetryTask(task_id=task_id, user_id=user_id))


async def _request(ctx: GatewayContext, task: Task, kind: ControlKind, message: Message) -> ControlAnswer:
    """Record the control on the task, then publish its command; a failed publish leaves it recorded."""
    control = RequestedControl(kind=kind, requested_at=ctx.clock.now())
    try:
        recorded = await _stored(ctx.store.request_control(task.task_id, task.user_id, control))
    except Conflict:  # the task moved on since it was read: answer from where it is now
        fresh = await _stored(owned_task(ctx, task.task_id, task.user_id))
        if kind is ControlKind.CANCEL:
            if fresh.status is TaskStatus.CANCELLING:
                return ControlAnswer(fresh)
            raise ApiError("not_cancellable", f"The task is already {fresh.status.value}") from None
        raise ApiError("not_retryable", f"The task is {fresh.status.value} now; it cannot be retried") from None
    if recorded is None:
        raise ApiError("not_found", "Task not found")
    sent = await ctx.publish(COMMANDS, SCHEDULER_KEY, message, correlation_id=task.task_id)
    if not sent:
        log.warning("control_not_sent", task_id=task.task_id, control=kind.value)
    return ControlAnswer(recorded, None if sent else DELAYED[kind])


async def _stored(call: Awaitable[T]) -> T:
    """`call`, a store read or write; 503 with Retry-After when the store fails (not a refusal)."""
    try:
        return await call
    except (ApiError, MediaCraftError):
        raise
    except Exception as exc:
        log.warning("task_store_unavailable", error=repr(exc))
        raise ApiError("unavailable", STORE_DOWN, headers={"Retry-After": str(STORE_RETRY_AFTER_SECONDS)}) from exc


async def detect(ctx: GatewayContext, user_id: str, task_id: str) -> Task:
    """Ask the watermark pool where the watermark of an uploaded draft is (answered on the task later).

    The task's `detection` becomes pending under a new request id (asking again replaces an
    earlier request, whose answer is then ignored); the scheduler runs the detection job.
    """
    task = await owned_task(ctx, task_id, user_id)
    if task.task_type is not TaskType.WATERMARK_REMOVAL:
        raise ApiError("invalid_state", "Only a watermark removal task can look for a watermark")
    if task.status is not TaskStatus.UPLOADED or not task.inputs:
        if task.status in DRAFT_STATUSES:
            raise ApiError("upload_required", "Upload the video before looking for its watermark")
        raise ApiError("invalid_state", f"The task is already {task.status.value}: detection is for uploaded drafts")
    request_id = new_id()
    pending = TaskDetection(
        state="pending", message=text("detection_pending"), request_id=request_id, requested_at=ctx.clock.now()
    )
    written = await ctx.store.set_detection(task_id, pending)
    if written is None:  # submitted or cancelled in the meantime
        raise ApiError("invalid_state", "The task was submitted meanwhile: detection is for uploaded drafts")
    command = DetectWatermarks(task_id=task_id, user_id=user_id, request_id=request_id)
    try:
        await ctx.publish(COMMANDS, SCHEDULER_KEY, command, correlation_id=task_id)
    except BaseException:
        # nothing will answer this request: say so on the task rather than leave it pending
        unsent = pending.model_copy(update={"state": "failed", "message": text("detection_unsent")})
        await ctx.store.set_detection(task_id, unsent, answers=request_id)
        raise
    await publish_status(ctx, written, written.status)
    return written


async def set_flags(
    ctx: GatewayContext, user_id: str, task_id: str, *, hidden: bool | None = None, notified: bool | None = None
) -> Task:
    """Set the user-owned flags of one task."""
    task = await ctx.store.set_user_flags(task_id, user_id, hidden=hidden, notified=notified)
    if task is None:
        raise ApiError("not_found", "Task not found")
    return task


async def clear_finished(ctx: GatewayContext, user_id: str, *, finished_before: datetime | None = None) -> list[str]:
    """Hide the user's finished tasks (completed, failed, cancelled or expired) that the task list
    shows, those that finished by `finished_before` when given (what the person saw when asking);
    returns their ids (so that the person can undo). Drafts, never in the list, are neither hidden
    nor counted."""
    cleared: list[str] = []
    cursor = None
    while len(cleared) < MAX_CLEARED:
        page = await ctx.store.list_for_user(user_id, statuses=TERMINAL_STATUSES, cursor=cursor, limit=100)
        for task in page.items:
            if task.submitted_at is None:
                continue  # a draft that expired unsubmitted: cleanup deletes it
            if (
                finished_before is not None
                and (task.completed_at or task.updated_at or task.created_at) > finished_before
            ):
                continue  # finished after the person asked: they have not seen it yet
            if await ctx.store.set_user_flags(task.task_id, user_id, hidden=True) is not None:
                cleared.append(task.task_id)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    return cleared


async def show_again(ctx: GatewayContext, user_id: str, task_ids: list[str]) -> int:
    """Show the user's listed hidden tasks in the list again (an undone clear, a change of mind);
    a task whose files cleanup has deleted meanwhile comes back as expired. Ids of other users'
    tasks are skipped silently."""
    shown = 0
    for task_id in task_ids:
        if await ctx.store.set_user_flags(task_id, user_id, hidden=False) is not None:
            shown += 1
    return shown


async def mark_notified(ctx: GatewayContext, user_id: str, task_ids: list[str]) -> int:
    """Mark the user's listed tasks as announced; ids of other users' tasks are skipped silently."""
    marked = 0
    for task_id in task_ids:
        if await ctx.store.set_user_flags(task_id, user_id, notified=True) is not None:
            marked += 1
    return marked
