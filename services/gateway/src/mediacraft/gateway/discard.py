"""Removing what will never run: received files that will not be attached, and abandoned drafts."""

from __future__ import annotations

from mediacraft.gateway.context import GatewayContext
from mediacraft.gateway.uploads import ReceivedFile
from mediacraft.shared.logging import get_logger
from mediacraft.shared.object_keys import upload_prefix
from mediacraft.shared.tasks import DRAFT_STATUSES, Task

log = get_logger(__name__)


async def discard_files(ctx: GatewayContext, files: list[ReceivedFile]) -> None:
    """Remove stored objects and local copies of files that will not be attached."""
    for item in files:
        if item.local is not None:
            item.local.unlink(missing_ok=True)
        try:
            await ctx.objects.delete(item.input.key)
        except Exception as exc:  # the error being handled matters more; cleanup removes orphans later
            log.warning("upload_cleanup_failed", key=item.input.key, error=str(exc))


async def discard_draft(ctx: GatewayContext, task: Task) -> None:
    """Remove a draft that will never run (a duplicate, or a failed one-call submit): record and files."""
    for item in task.inputs:
        ctx.cache.discard(item.key)
    try:
        await ctx.objects.delete_prefix(upload_prefix(task.user_id, task.task_id))
        current = await ctx.store.get(task.task_id)
        if current is not None and current.status in DRAFT_STATUSES:
            await ctx.store.delete(task.task_id)
    except Exception as exc:  # left for the cleanup service's draft expiry
        log.warning("draft_cleanup_failed", task_id=task.task_id, error=str(exc))
