"""The result of the caller's completed task, found and checked before it is sent."""

from __future__ import annotations

from dataclasses import dataclass

from mediacraft.gateway.context import GatewayContext
from mediacraft.gateway.disposition import download_name
from mediacraft.gateway.envelope import ApiError
from mediacraft.gateway.ownership import owned_task
from mediacraft.shared.tasks import TaskStatus


@dataclass(frozen=True)
class StoredResult:
    """A result ready to send: its object key, size, ETag, download name and media type."""

    key: str
    size: int
    etag: str | None
    filename: str
    media_type: str


async def stored_result(ctx: GatewayContext, user_id: str, task_id: str) -> StoredResult:
    """The stored result of the caller's task; 409 before it is completed, 410 once it expired."""
    task = await owned_task(ctx, task_id, user_id)
    if task.status is TaskStatus.EXPIRED:
        raise ApiError("expired", "The result has expired and was deleted")
    if task.status is not TaskStatus.COMPLETED or task.result is None:
        raise ApiError("not_ready", f"The task is {task.status.value}; there is nothing to download yet")
    key = task.result.key
    info = await ctx.objects.stat(key)
    if info is None:
        raise ApiError("expired", "The result has expired and was deleted")
    filename = download_name(task)
    return StoredResult(key, info.size, info.etag, filename, task.result.content_type or "application/octet-stream")
