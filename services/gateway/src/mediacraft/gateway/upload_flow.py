"""Uploading to a draft: check the task, stream every `file` part into the object store, attach.

Files are received while the body arrives (multipart.py reads it, uploads.py stores and checks
each file); a refusal at any point removes what was stored for this request.
"""

from __future__ import annotations

import uuid

from mediacraft.gateway.attach import attach_files
from mediacraft.gateway.body_stream import BodyStream
from mediacraft.gateway.context import GatewayContext
from mediacraft.gateway.discard import discard_files
from mediacraft.gateway.envelope import ApiError
from mediacraft.gateway.multipart import FormFields, MultipartReader, PartHeaders
from mediacraft.gateway.ownership import owned_task
from mediacraft.gateway.storage_quota import check_stored_within_quota, receive_within_quota, storage_room
from mediacraft.gateway.task_config import input_rule
from mediacraft.gateway.uploads import ReceivedFile
from mediacraft.gateway.videos import record_uploaded_videos
from mediacraft.shared.object_keys import upload_key
from mediacraft.shared.tasks import DRAFT_STATUSES, Task

# Multipart framing and small form fields around the files of one upload request.
MULTIPART_OVERHEAD = 1024 * 1024


async def upload_files(ctx: GatewayContext, user_id: str, task_id: str, body: BodyStream) -> Task:
    """POST /api/tasks/{id}/upload: store the files and attach them to the draft."""
    task = await owned_task(ctx, task_id, user_id)
    rule = input_rule(task.task_type, ctx.settings.merge_max_inputs)
    if not rule.takes_files:
        raise ApiError("upload_not_allowed", f"A {task.task_type.value} task takes no files")
    if task.status not in DRAFT_STATUSES:
        raise ApiError("invalid_state", "The task was already submitted; create a new one")
    room = rule.max_files - len(task.inputs)
    if room <= 0:
        raise ApiError("too_many_files", f"A {task.task_type.value} task takes at most {rule.max_files} file(s)")
    check_declared_size(ctx, body.declared_length, room)
    files = await receive_files(ctx, body.multipart(), task, None)
    try:
        attached = await attach_files(ctx, task, files)
    except BaseException:
        await discard_files(ctx, files)
        raise
    await record_uploaded_videos(ctx, attached)
    return attached


def form_limits(ctx: GatewayContext) -> FormFields:
    """The bounds of the non-file fields of one multipart body: their number, each, all together."""
    s = ctx.settings
    return FormFields(
        max_fields=s.max_form_fields, max_field_bytes=s.max_form_field_bytes, max_total_bytes=s.max_form_bytes
    )


def check_declared_size(ctx: GatewayContext, declared_length: int | None, files: int) -> None:
    """413 at once when Content-Length already says the body is too large."""
    if declared_length is None:
        return
    if declared_length > files * ctx.max_upload_bytes + MULTIPART_OVERHEAD:
        ctx.metrics.uploads.labels("declared_too_large").inc()
        raise ApiError(
            "payload_too_large", f"The upload is larger than the limit of {ctx.max_upload_bytes} bytes per file"
        )


async def receive_files(
    ctx: GatewayContext,
    reader: MultipartReader,
    task: Task,
    first: PartHeaders | None,
    fields: FormFields | None = None,
) -> list[ReceivedFile]:
    """Store every `file` part of the body (starting with `first` if given) for `task`; other
    fields are read and dropped within `fields` (the same bounds as the fields before the files)."""
    fields = fields or form_limits(ctx)
    rule = input_rule(task.task_type, ctx.settings.merge_max_inputs)
    room = rule.max_files - len(task.inputs)
    received: list[ReceivedFile] = []
    ctx.metrics.uploads_in_progress.inc()
    try:
        storage_left = await storage_room(ctx, task.user_id)
        part = first or await reader.next_part()
        while part is not None:
            if part.is_file and part.name == "file":
                if len(received) >= room:
                    raise ApiError(
                        "too_many_files", f"A {task.task_type.value} task takes at most {rule.max_files} file(s)"
                    )
                key = upload_key(task.user_id, task.task_id, uuid.uuid4().hex)
                received.append(await receive_within_quota(ctx, reader, part, key, storage_left))
                if storage_left is not None:
                    storage_left -= received[-1].input.size
            elif part.is_file:
                # refused at once: read as a form field, a video would only be "too large a field"
                raise ApiError("missing_file", f"Files go in the multipart field named file, not {part.name!r}")
            else:
                await fields.read(reader)
            part = await reader.next_part()
        if not received:
            raise ApiError("missing_file", "No file was sent (multipart field name: file)")
        await check_stored_within_quota(ctx, task.user_id, received)
    except BaseException as exc:
        ctx.metrics.uploads.labels(getattr(exc, "code", type(exc).__name__)).inc()
        await discard_files(ctx, received)
        raise
    finally:
        ctx.metrics.uploads_in_progress.dec()
    return received
