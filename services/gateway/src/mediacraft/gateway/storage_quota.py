"""The optional per-user storage quota, applied while files are received."""

from __future__ import annotations

from mediacraft.gateway.context import GatewayContext
from mediacraft.gateway.envelope import ApiError
from mediacraft.gateway.multipart import MultipartReader, PartHeaders
from mediacraft.gateway.uploads import ReceivedFile
from mediacraft.shared.ports.objects import TooLarge


async def storage_room(ctx: GatewayContext, user_id: str) -> int | None:
    """Bytes the user may still store under the optional quota (None: no quota).

    Usage is what the cleanup service last measured (user metadata `storage.bytes`), so it can lag
    by one cleanup interval; the quota is a guard against runaway use, not exact accounting.
    """
    quota = ctx.settings.user_storage_quota_bytes
    if quota is None:
        return None
    info = await ctx.identity.user_info(user_id)
    used = int((info.metadata.get("storage") or {}).get("bytes") or 0)
    if used >= quota:
        raise ApiError("storage_quota_exceeded", f"Your storage of {quota} bytes is full; remove finished tasks first")
    return quota - used


async def receive_within_quota(
    ctx: GatewayContext, reader: MultipartReader, part: PartHeaders, key: str, storage_left: int | None
) -> ReceivedFile:
    """Receive one file under the per-file limit and, when tighter, what is left of the quota."""
    if storage_left is None or storage_left >= ctx.max_upload_bytes:
        return await ctx.receiver.receive(reader, part, key=key, max_bytes=ctx.max_upload_bytes)
    try:
        return await ctx.receiver.receive(reader, part, key=key, max_bytes=storage_left)
    except (ApiError, TooLarge) as exc:
        if getattr(exc, "code", None) != "file_too_large":
            raise
        raise ApiError("storage_quota_exceeded", "This file does not fit in what is left of your storage") from None
