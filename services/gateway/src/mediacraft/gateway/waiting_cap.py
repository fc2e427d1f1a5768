"""The scheduler's cap on waiting tasks per user, checked at submit and retry (429 with its wording)."""

from __future__ import annotations

from mediacraft.gateway.context import GatewayContext
from mediacraft.gateway.envelope import ApiError
from mediacraft.shared.tasks import TaskStatus

USER_BUSY_MESSAGE = "Waiting for your current task to finish"
SYSTEM_BUSY_MESSAGE = "The system is busy; your task is queued"


async def check_waiting_cap(ctx: GatewayContext, user_id: str) -> None:
    """429 when the user already has the most waiting tasks allowed (the scheduler's cap)."""
    cap = ctx.settings.max_waiting_per_user
    if cap is None:
        return
    counts = await ctx.store.count_by_status(user_id, include_hidden=True)
    waiting = counts.get(TaskStatus.QUEUED.value, 0) + counts.get(TaskStatus.RETRYING.value, 0)
    if waiting < cap:
        return
    running = counts.get(TaskStatus.PROCESSING.value, 0) + counts.get(TaskStatus.CANCELLING.value, 0)
    why = USER_BUSY_MESSAGE if running else SYSTEM_BUSY_MESSAGE
    ctx.metrics.refused.labels("too_many_waiting").inc()
    raise ApiError(
        "too_many_waiting",
        f"{why}. You already have {waiting} tasks waiting, the most allowed; submit more when some have started.",
        headers={"Retry-After": "30"},
    )
