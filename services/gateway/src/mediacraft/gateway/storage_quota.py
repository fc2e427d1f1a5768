"""The per-user storage quota (`MEDIACRAFT_USER_STORAGE_QUOTA_BYTES`, on by default), applied while files are received.

What a user stores is counted at upload time: the larger of the bytes under the user's upload folder
now (every upload, drafts included, listed from the object store) and cleanup's last measurement
(user metadata `storage.bytes`, which also counts results but may be one cleanup interval old).
Before a file is read the user must have room; while it streams it may take at most that room;
once the request's files are stored the user's uploads are listed again, so that uploads that ran
at the same time cannot together pass the quota. A refusal is 413 `storage_quota_exceeded` and the
request's files are removed (upload_flow.receive_files).
"""

from __future__ import annotations

from mediacraft.gateway.context import GatewayContext
from mediacraft.gateway.envelope import ApiError
from mediacraft.gateway.multipart import MultipartReader, PartHeaders
from mediacraft.gateway.uploads import ReceivedFile
from mediacraft.shared.errors import RetryableError
from mediacraft.shared.logging import get_logger
from mediacraft.shared.object_keys import UPLOADS
from mediacraft.shared.ports.objects import TooLarge

log = get_logger(__name__)


def _full(quota: int) -> ApiError:
    return ApiError("storage_quota_exceeded", f"Your storage of {quota} bytes is full; remove finished tasks first")


async def stored_uploads(ctx: GatewayContext, user_id: str) -> int:
    """Bytes of every upload of the user in the object store right now (drafts included)."""
    return sum([obj.size async for obj in ctx.objects.list(f"{UPLOADS}/{user_id}/")])


async def measured_usage(ctx: GatewayContext, user_id: str) -> int:
    """What cleanup last measured for the user (uploads and results), 0 when never measured.

    Also 0 while identity does not answer: the upload folder, listed at once, still counts.
    """
    try:
        info = await ctx.identity.user_info(user_id)
    except RetryableError as exc:
        log.warning("storage_usage_unavailable", user_id=user_id, error=exc.message)
        return 0
    return int((info.metadata.get("storage") or {}).get("bytes") or 0)


async def storage_room(ctx: GatewayContext, user_id: str) -> int | None:
    """Bytes the user may still store under the quota (None: no quota); 413 when there is none."""
    quota = ctx.settings.user_storage_quota_bytes
    if quota is None:
        return None
    used = max(await measured_usage(ctx, user_id), await stored_uploads(ctx, user_id))
    if used >= quota:
        ctx.metrics.refused.labels("storage_quota").inc()
        raise _full(quota)
    return quota - used


async def check_stored_within_quota(ctx: GatewayContext, user_id: str, received: list[ReceivedFile]) -> None:
    """After this request's files are stored: 413 when the user's storage is now over the quota.

    The listing includes this request's files and those of any upload that finished meanwhile;
    cleanup's measurement predates this request, so its files are added to it.
    """
    quota = ctx.settings.user_storage_quota_bytes
    if quota is None:
        return
    mine = sum(f.input.size for f in received)
    used = max(await measured_usage(ctx, user_id) + mine, await stored_uploads(ctx, user_id))
    if used > quota:
        ctx.metrics.refused.labels("storage_quota").inc()
        raise ApiError("storage_quota_exceeded", "These files do not fit in what is left of your storage")


async def receive_within_quota(
    ctx: GatewayContext, reader: MultipartReader, part: PartHeaders, key: str, storage_left: int | None
) -> ReceivedFile:
    """Receive one file under the per-file limit and, when tighter, what is left of the quota."""
    if storage_left is None or storage_left >= ctx.max_upload_bytes:
        return await ctx.receiver.receive(reader, part, key=key, max_bytes=ctx.max_upload_bytes)
    if storage_left <= 0:
        raise ApiError("storage_quota_exceeded", "This file does not fit in what is left of your storage")
    try:
        return await ctx.receiver.receive(reader, part, key=key, max_bytes=storage_left)
    except (ApiError, TooLarge) as exc:
        if getattr(exc, "code", None) != "file_too_large":
            raise
        ctx.metrics.refused.labels("storage_quota").inc()
        raise ApiError("storage_quota_exceeded", "This file does not fit in what is left of your storage") from None
