"""A frame of one of a task's uploads, for picking watermark regions (GET /api/tasks/{id}/preview)."""

from __future__ import annotations

from dataclasses import dataclass

from mediacraft.gateway.context import GatewayContext
from mediacraft.gateway.envelope import ApiError
from mediacraft.gateway.ownership import owned_task
from mediacraft.gateway.preview import FrameRequest, frame_time
from mediacraft.shared.errors import NotFound


@dataclass(frozen=True)
class PreviewFrame:
    """A JPEG frame, the time it was taken at, and the size of the video in source pixels."""

    jpeg: bytes
    seconds: float
    width: int | None
    height: int | None


async def preview_frame(
    ctx: GatewayContext, user_id: str, task_id: str, *, input_index: int, want: FrameRequest
) -> PreviewFrame:
    """The wanted frame of the task's `input_index`-th upload, decoded from the local copy."""
    task = await owned_task(ctx, task_id, user_id)
    if input_index >= len(task.inputs):
        raise ApiError("not_found", "This task has no such uploaded file")
    item = task.inputs[input_index]
    if item.media is None:
        raise ApiError("unsupported_format", "This file has no frames to preview")
    seconds = frame_time(want, item.media)
    try:
        local = await ctx.cache.fetch(item.key, ctx.objects)
    except (FileNotFoundError, NotFound):
        raise ApiError("expired", "The uploaded file is no longer available") from None
    with ctx.cache.hold(item.key):
        try:
            data = await ctx.frames.jpeg(local, item.media, seconds, ctx.cache.temp_path())
        except ApiError:
            ctx.metrics.previews.labels("failed").inc()
            raise
    ctx.metrics.previews.labels("ok").inc()
    return PreviewFrame(data, seconds, item.media.width, item.media.height)
