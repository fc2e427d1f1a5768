"""The caller's own task: the one lookup every task endpoint starts from."""

from __future__ import annotations

from mediacraft.gateway.context import GatewayContext
from mediacraft.gateway.envelope import ApiError
from mediacraft.shared.tasks import Task
from mediacraft.shared.tracing import follow, get_tracer

TRACER = get_tracer("mediacraft.gateway")


async def owned_task(ctx: GatewayContext, task_id: str, user_id: str) -> Task:
    """The caller's task in any status, or 404 (another user's task looks exactly like a missing one)."""
    task = await ctx.store.get_for_user(task_id, user_id)
    if task is None:
        raise ApiError("not_found", "Task not found")
    # the rest of the request runs in the task's trace (with a span there when it changes the task)
    follow(task.trace_context, "gateway task request", tracer=TRACER, attributes={"mediacraft.task_id": task_id})
    return task
