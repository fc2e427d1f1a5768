"""The cap on waiting tasks per user, checked at submit and retry (429, worded as the scheduler words waiting)."""

from __future__ import annotations

from mediacraft.gateway.context import GatewayContext
from mediacraft.gateway.envelope import ApiError
from mediacraft.shared.admission import check_counts


async def check_waiting_cap(ctx: GatewayContext, user_id: str) -> None:
    """429 when the user already has the most waiting tasks allowed (mediacraft.shared.admission)."""
    cap = ctx.settings.max_waiting_per_user
    if cap is None:
        return
    refusal = check_counts(await ctx.store.count_by_status(user_id, include_hidden=True), max_waiting_per_user=cap)
    if refusal is None:
        return
    ctx.metrics.refused.labels(refusal.code).inc()
    raise ApiError(refusal.code, refusal.message, headers={"Retry-After": "30"})
