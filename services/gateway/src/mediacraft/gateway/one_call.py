"""Create, upload and submit in one request; a failure leaves nothing behind."""

from __future__ import annotations

from mediacraft.gateway.attach import attach_files, count_accepted
from mediacraft.gateway.body_stream import BodyStream
from mediacraft.gateway.context import GatewayContext
from mediacraft.gateway.create import check_create_rate, create_task
from mediacraft.gateway.discard import discard_draft, discard_files
from mediacraft.gateway.envelope import ApiError
from mediacraft.gateway.idempotency import request_hash
from mediacraft.gateway.submission import submit
from mediacraft.gateway.submit_form import read_submit_form
from mediacraft.gateway.task_config import input_rule, parse_task_type
from mediacraft.gateway.upload_flow import check_declared_size, form_limits, receive_files
from mediacraft.gateway.uploads import ReceivedFile
from mediacraft.gateway.videos import record_uploaded_videos
from mediacraft.shared.tasks import DRAFT_STATUSES, Task


async def submit_in_one_call(
    ctx: GatewayContext,
    user_id: str,
    body: BodyStream,
    *,
    task_type_param: str | None = None,
    idempotency_key: str | None = None,
) -> tuple[Task, str]:
    """POST /api/tasks/submit: create, upload and config in one multipart request.

    Form fields (task_type, config as JSON) come before the files; task_type may also be given as
    `task_type_param` (the query parameter). Returns the task and what happened: queued, duplicate
    or replayed. A failure removes the draft and its files, so a failed call leaves nothing behind.
    """
    check_declared_size(ctx, body.declared_length, ctx.settings.merge_max_inputs)
    fields = form_limits(ctx)
    form = await read_submit_form(body, fields, ctx.settings.max_json_body_bytes)
    config = form.config
    task_type = parse_task_type(form.fields.get("task_type") or task_type_param)
    rule = input_rule(task_type, ctx.settings.merge_max_inputs)
    if rule.takes_files:
        check_declared_size(ctx, body.declared_length, rule.max_files)
    elif form.first_file is not None:
        raise ApiError("upload_not_allowed", f"A {task_type.value} task takes no files")
    check_create_rate(ctx, user_id)
    idempotency = None
    if idempotency_key is not None:
        idempotency = (idempotency_key, request_hash("submit", {"task_type": task_type.value, "config": config}))
    task, replayed = await create_task(ctx, user_id, task_type, idempotency=idempotency, announce=False)
    if replayed:
        if task.status in DRAFT_STATUSES:
            raise ApiError("idempotency_in_progress", "A request with this Idempotency-Key is still being processed")
        return task, "replayed"
    files: list[ReceivedFile] = []
    try:
        if rule.takes_files:
            if form.reader is None:
                raise ApiError("missing_file", "Send the file as multipart/form-data (field name: file)")
            files = await receive_files(ctx, form.reader, task, form.first_file, fields)
            try:
                task = await attach_files(ctx, task, files, announce=False)
            except BaseException:
                await discard_files(ctx, files)
                raise
        result, duplicate = await submit(ctx, user_id, task.task_id, config)
    except BaseException:
        await discard_draft(ctx, task)
        raise
    if not duplicate:
        ctx.metrics.tasks_created.labels(task_type.value).inc()
        count_accepted(ctx, files)
        await record_uploaded_videos(ctx, result)
    return result, "duplicate" if duplicate else "queued"
