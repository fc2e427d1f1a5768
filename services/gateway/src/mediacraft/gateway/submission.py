"""Submitting a draft (its config): validate, suppress duplicates, queue, nudge the scheduler.

The gateway writes a task only while it is a draft, then hands it over: submit is a
compare-and-set uploaded -> queued, followed by a SubmitTask nudge to the scheduler. Every write
is a compare-and-set on (status, version), so concurrent requests cannot both win.
"""

from __future__ import annotations

import asyncio
from typing import Any

from mediacraft.gateway.context import GatewayContext
from mediacraft.gateway.discard import discard_draft
from mediacraft.gateway.envelope import ApiError
from mediacraft.gateway.fingerprint import task_fingerprint
from mediacraft.gateway.ownership import owned_task
from mediacraft.gateway.status_events import publish_status
from mediacraft.gateway.task_config import estimate_seconds, input_rule, validate_config
from mediacraft.gateway.waiting_cap import check_waiting_cap
from mediacraft.shared import transitions
from mediacraft.shared.admission import QUEUED_MESSAGE
from mediacraft.shared.errors import Conflict
from mediacraft.shared.logging import get_logger
from mediacraft.shared.messages import SubmitTask
from mediacraft.shared.tasks import ACTIVE_STATUSES, DRAFT_STATUSES, Task, TaskStatus
from mediacraft.shared.topology import COMMANDS, SCHEDULER_KEY

log = get_logger(__name__)


async def submit(ctx: GatewayContext, user_id: str, task_id: str, config: Any) -> tuple[Task, bool]:
    """POST /api/tasks/{id}/config: validate, suppress duplicates, queue, nudge. (task, duplicate)."""
    task = await owned_task(ctx, task_id, user_id)
    if task.status not in DRAFT_STATUSES:
        if task.status in ACTIVE_STATUSES and _same_config(ctx, task, config):
            ctx.metrics.duplicates.inc()
            return task, True  # the same submit sent twice
        raise ApiError("invalid_state", "The task was already submitted; retry it or create a new one")
    normalized = validate_config(task.task_type, config, task.inputs, merge_max_inputs=ctx.settings.merge_max_inputs)
    if input_rule(task.task_type, ctx.settings.merge_max_inputs).takes_files and task.status is not TaskStatus.UPLOADED:
        raise ApiError("upload_required", "Upload the file before submitting this task")
    await check_waiting_cap(ctx, user_id)
    fingerprint = task_fingerprint(user_id, task.task_type, task.inputs, normalized)
    async with ctx.submit_locks.hold(user_id):
        now = ctx.clock.now()
        earlier = await ctx.store.find_by_fingerprint(user_id, fingerprint, now - ctx.duplicate_window)
        if earlier is not None and earlier.task_id != task.task_id:
            ctx.metrics.duplicates.inc()
            await discard_draft(ctx, task)
            return earlier, True
        changes = {
            "config": normalized,
            "fingerprint": fingerprint,
            "submitted_at": now,
            "message": QUEUED_MESSAGE,
            "eta_seconds": estimate_seconds(
                task.task_type, task.inputs, normalized, ctx.settings.eta_seconds_per_media_second
            ),
            "expires_at": None,
        }
        try:
            queued = await ctx.store.transition(
                task.task_id, transitions.SUBMIT, expected_version=task.version, changes=changes
            )
        except Conflict:
            raise ApiError("conflict", "The task changed meanwhile; fetch its status and try again") from None
    ctx.metrics.tasks_submitted.labels(task.task_type.value).inc()
    # side by side, so that the answer waits for the broker at most one publish timeout; the live
    # views drop a "queued" that arrives after the scheduler's "processing" (older version)
    submitted = SubmitTask(
        task_id=queued.task_id,
        user_id=user_id,
        task_type=queued.task_type,
        version=queued.version,
        submitted_at=queued.submitted_at,
    )
    _, sent = await asyncio.gather(
        publish_status(ctx, queued, task.status),
        ctx.publish(COMMANDS, SCHEDULER_KEY, submitted, correlation_id=queued.task_id),
    )
    if not sent:  # still queued in the store: the scheduler's reconcile finds it
        log.warning("submit_not_sent", task_id=queued.task_id)
    else:
        log.info("task_submitted", task_id=queued.task_id, task_type=queued.task_type.value)
    return queued, False


def _same_config(ctx: GatewayContext, task: Task, config: Any) -> bool:
    try:
        normalized = validate_config(
            task.task_type, config, task.inputs, merge_max_inputs=ctx.settings.merge_max_inputs
        )
    except ApiError:
        return False
    return normalized == task.config
