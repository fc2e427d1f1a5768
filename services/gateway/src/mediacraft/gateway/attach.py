"""Attaching received files to a draft: created/uploaded -> uploaded, a compare-and-set retried on lost races."""

from __future__ import annotations

import asyncio

from mediacraft.gateway.context import GatewayContext
from mediacraft.gateway.envelope import ApiError
from mediacraft.gateway.ownership import owned_task
from mediacraft.gateway.status_events import publish_status
from mediacraft.gateway.task_config import input_rule
from mediacraft.gateway.uploads import ReceivedFile
from mediacraft.shared import transitions
from mediacraft.shared.errors import Conflict
from mediacraft.shared.tasks import DRAFT_STATUSES, Task

_CAS_ATTEMPTS = 5


def count_accepted(ctx: GatewayContext, files: list[ReceivedFile]) -> None:
    """Count files that were received and attached."""
    ctx.metrics.uploads.labels("accepted").inc(len(files))
    ctx.metrics.upload_bytes.inc(sum(f.input.size for f in files))


async def attach_files(ctx: GatewayContext, task: Task, files: list[ReceivedFile], *, announce: bool = True) -> Task:
    """Append the files to the draft's inputs (created/uploaded -> uploaded), retrying lost races."""
    rule = input_rule(task.task_type, ctx.settings.merge_max_inputs)
    for _ in range(_CAS_ATTEMPTS):
        if task.status not in DRAFT_STATUSES:
            raise ApiError("invalid_state", "The task was already submitted; create a new one")
        inputs = [*task.inputs, *(f.input for f in files)]
        if len(inputs) > rule.max_files:
            raise ApiError("too_many_files", f"A {task.task_type.value} task takes at most {rule.max_files} file(s)")
        changes = {
            "inputs": inputs,
            "original_filename": inputs[0].original_name,
            "file_size": sum(i.size for i in inputs),
        }
        try:
            updated = await ctx.store.transition(
                task.task_id, transitions.UPLOAD, expected_version=task.version, changes=changes
            )
        except Conflict:
            task = await owned_task(ctx, task.task_id, task.user_id)
            continue
        for f in files:
            if f.local is not None:  # None: the object store's own file serves previews
                # a rename and a scan of the cache folder for eviction: off the event loop
                await asyncio.to_thread(ctx.cache.adopt, f.input.key, f.local)
        if announce:
            count_accepted(ctx, files)
            await publish_status(ctx, updated, task.status)
        return updated
    raise ApiError("conflict", "The task changed while uploading; try again")
