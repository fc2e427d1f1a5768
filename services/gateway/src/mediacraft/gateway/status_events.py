"""Live announcements of the gateway's own writes (drafts); the scheduler announces the rest."""

from __future__ import annotations

from mediacraft.gateway.context import GatewayContext
from mediacraft.shared.messages import TaskStatusChanged
from mediacraft.shared.tasks import Task, TaskStatus
from mediacraft.shared.topology import EVENTS


async def publish_status(ctx: GatewayContext, task: Task, previous: TaskStatus | None) -> None:
    """Announce a draft write to live clients (the scheduler announces everything after queued)."""
    message = TaskStatusChanged.of(task, previous)
    await ctx.publish(EVENTS, TaskStatusChanged.TYPE, message, correlation_id=task.task_id, mandatory=False)
