"""Creating a draft: the first write of a task, honouring the create rate, the open-draft cap and Idempotency-Key."""

from __future__ import annotations

import uuid
from datetime import timedelta

from mediacraft.gateway.context import GatewayContext
from mediacraft.gateway.envelope import ApiError
from mediacraft.gateway.idempotency import META_FIELD, task_id_for
from mediacraft.gateway.ratelimit import retry_after
from mediacraft.gateway.status_events import publish_status
from mediacraft.shared.errors import Conflict
from mediacraft.shared.logging import get_logger
from mediacraft.shared.tasks import DRAFT_STATUSES, Task, TaskStatus, TaskType
from mediacraft.shared.tracing import current_traceparent

DRAFT_TTL = timedelta(hours=24)

log = get_logger(__name__)


async def create_draft(
    ctx: GatewayContext,
    user_id: str,
    task_type: TaskType,
    *,
    idempotency: tuple[str, str] | None = None,
) -> tuple[Task, bool]:
    """POST /api/tasks/create: a new draft within the create rate. (task, replayed)."""
    check_create_rate(ctx, user_id)
    return await create_task(ctx, user_id, task_type, idempotency=idempotency)


def check_create_rate(ctx: GatewayContext, user_id: str) -> None:
    """429 when this identity creates tasks faster than allowed."""
    wait = ctx.create_limiter.acquire(user_id)
    if wait:
        ctx.metrics.refused.labels("create_rate").inc()
        raise ApiError(
            "rate_limited", "Too many new tasks; try again shortly", headers={"Retry-After": retry_after(wait)}
        )


async def create_task(
    ctx: GatewayContext,
    user_id: str,
    task_type: TaskType,
    *,
    idempotency: tuple[str, str] | None = None,
    announce: bool = True,
) -> tuple[Task, bool]:
    """Insert a new draft; with (key, request hash) a repeat returns the first task. (task, replayed).

    A user's creates are serialised on this replica, so that the open-draft cap counts every draft.
    """
    task_id = task_id_for(user_id, idempotency[0]) if idempotency else str(uuid.uuid4())
    async with ctx.draft_locks.hold(user_id):
        # a repeat of an Idempotency-Key is answered below whatever the cap: it creates nothing
        if idempotency is None or await ctx.store.get_for_user(task_id, user_id) is None:
            await check_open_drafts(ctx, user_id)
        return await _insert_draft(ctx, user_id, task_type, task_id, idempotency=idempotency, announce=announce)


async def check_open_drafts(ctx: GatewayContext, user_id: str) -> None:
    """429 `too_many_drafts` when the user already holds the most drafts allowed."""
    cap = ctx.settings.max_open_drafts_per_user
    if cap is None:
        return
    counts = await ctx.store.count_by_status(user_id, include_hidden=True)
    drafts = sum(counts.get(status.value, 0) for status in DRAFT_STATUSES)
    if drafts >= cap:
        ctx.metrics.refused.labels("open_drafts").inc()
        raise ApiError(
            "too_many_drafts",
            f"You have {drafts} unsubmitted tasks, the most allowed is {cap}; submit or delete some first",
            data={"open_drafts": drafts, "max_open_drafts": cap},
        )


async def _insert_draft(
    ctx: GatewayContext,
    user_id: str,
    task_type: TaskType,
    task_id: str,
    *,
    idempotency: tuple[str, str] | None,
    announce: bool,
) -> tuple[Task, bool]:
    now = ctx.clock.now()
    metadata = {META_FIELD: idempotency[1]} if idempotency else {}
    task = Task(
        task_id=task_id,
        user_id=user_id,
        task_type=task_type,
        status=TaskStatus.CREATED,
        created_at=now,
        updated_at=now,
        expires_at=now + DRAFT_TTL,
        metadata=metadata,
        trace_context=current_traceparent(),  # this request begins the task's trace
    )
    try:
        task = await ctx.store.insert(task)
    except Conflict:
        existing = await ctx.store.get_for_user(task_id, user_id)
        if existing is None or idempotency is None:
            raise
        if existing.metadata.get(META_FIELD) != idempotency[1]:
            raise ApiError("idempotency_key_reused", "This Idempotency-Key was used for a different request") from None
        ctx.metrics.idempotent_replays.inc()
        return existing, True
    log.info("task_created", task_id=task.task_id, task_type=task_type.value)
    if announce:
        ctx.metrics.tasks_created.labels(task_type.value).inc()
        await publish_status(ctx, task, None)
    return task, False
