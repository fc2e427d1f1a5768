"""The gateway's part of the lifecycle: drafts (create, upload) and submission (config).

The gateway writes a task only while it is a draft, then hands it over: submit is a
compare-and-set uploaded -> queued, followed by a SubmitTask nudge to the scheduler. Every write
is a compare-and-set on (status, version), so concurrent requests cannot both win.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request

from mediacraft.gateway.context import GatewayContext
from mediacraft.gateway.envelope import ApiError
from mediacraft.gateway.fingerprint import task_fingerprint
from mediacraft.gateway.idempotency import META_FIELD, request_hash, task_id_for
from mediacraft.gateway.multipart import MultipartReader, PartHeaders, boundary_of
from mediacraft.gateway.ratelimit import retry_after
from mediacraft.gateway.task_config import estimate_seconds, input_rule, parse_task_type, validate_config
from mediacraft.gateway.uploads import ReceivedFile
from mediacraft.shared.admission import QUEUED_MESSAGE, check_counts
from mediacraft.shared.errors import Conflict
from mediacraft.shared.logging import get_logger
from mediacraft.shared.messages import SubmitTask, TaskStatusChanged
from mediacraft.shared.object_keys import upload_key, upload_prefix
from mediacraft.shared.ports.objects import TooLarge
from mediacraft.shared.tasks import ACTIVE_STATUSES, DRAFT_STATUSES, Task, TaskStatus, TaskType
from mediacraft.shared.topology import COMMANDS, EVENTS, SCHEDULER_KEY

log = get_logger(__name__)

DRAFT_TTL = timedelta(hours=24)
# Multipart framing and small form fields around the files of one upload request.
MULTIPART_OVERHEAD = 1024 * 1024
_CAS_ATTEMPTS = 5


async def publish_status(ctx: GatewayContext, task: Task, previous: TaskStatus | None) -> None:
    """Announce a draft write to live clients (the scheduler announces everything after queued)."""
    message = TaskStatusChanged(
        task_id=task.task_id, user_id=task.user_id, status=task.status,
        previous_status=previous, version=task.version, task=task.to_doc(),
    )
    await ctx.publish(EVENTS, TaskStatusChanged.TYPE, message, correlation_id=task.task_id, mandatory=False)


async def owned(ctx: GatewayContext, task_id: str, user_id: str) -> Task:
    """The caller's task, or 404 (another user's task looks exactly like a missing one)."""
    task = await ctx.store.get_for_user(task_id, user_id)
    if task is None:
        raise ApiError("not_found", "Task not found")
    return task


def check_create_rate(ctx: GatewayContext, user_id: str) -> None:
    """429 when this identity creates tasks faster than allowed."""
    wait = ctx.create_limiter.acquire(user_id)
    if wait:
        ctx.metrics.refused.labels("create_rate").inc()
        raise ApiError("rate_limited", "Too many new tasks; try again shortly",
                       headers={"Retry-After": retry_after(wait)})


async def create_task(
    ctx: GatewayContext, user_id: str, task_type: TaskType, *, idempotency: tuple[str, str] | None = None,
    announce: bool = True,
) -> tuple[Task, bool]:
    """Insert a new draft; with (key, request hash) a repeat returns the first task. (task, replayed)."""
    now = ctx.clock.now()
    task_id = task_id_for(user_id, idempotency[0]) if idempotency else str(uuid.uuid4())
    metadata = {META_FIELD: idempotency[1]} if idempotency else {}
    task = Task(
        task_id=task_id, user_id=user_id, task_type=task_type, status=TaskStatus.CREATED,
        created_at=now, updated_at=now, expires_at=now + DRAFT_TTL,
        metadata=metadata,
    )
    try:
        task = await ctx.store.insert(task)
    except Conflict:
        existing = await ctx.store.get_for_user(task_id, user_id)
        if existing is None or idempotency is None:
            raise
        if existing.metadata.get(META_FIELD) != idempotency[1]:
            raise ApiError("idempotency_key_reused", "This Idempotency-Key was used for a different request") from None
        ctx.metrics.idempotent_replays.inc()
        return existing, True
    if announce:
        ctx.metrics.tasks_created.labels(task_type.value).inc()
        await publish_status(ctx, task, None)
    return task, False


async def receive_files(
    ctx: GatewayContext, reader: MultipartReader, task: Task, first: PartHeaders | None,
) -> list[ReceivedFile]:
    """Store every `file` part of the body (starting with `first` if given) for `task`."""
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
                    raise ApiError("too_many_files", f"A {task.task_type.value} task takes at most {rule.max_files} file(s)")
                key = upload_key(task.user_id, task.task_id, uuid.uuid4().hex)
                received.append(await receive_within_quota(ctx, reader, part, key, storage_left))
                if storage_left is not None:
                    storage_left -= received[-1].input.size
            elif part.is_file:
                # refused at once: read as a form field, a video would only be "too large a field"
                raise ApiError("missing_file", f"Files go in the multipart field named file, not {part.name!r}")
            else:
                await reader.read_all(ctx.settings.max_form_field_bytes)
            part = await reader.next_part()
        if not received:
            raise ApiError("missing_file", "No file was sent (multipart field name: file)")
    except BaseException as exc:
        ctx.metrics.uploads.labels(getattr(exc, "code", type(exc).__name__)).inc()
        await discard_files(ctx, received)
        raise
    finally:
        ctx.metrics.uploads_in_progress.dec()
    return received


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


def count_accepted(ctx: GatewayContext, files: list[ReceivedFile]) -> None:
    ctx.metrics.uploads.labels("accepted").inc(len(files))
    ctx.metrics.upload_bytes.inc(sum(f.input.size for f in files))


async def discard_files(ctx: GatewayContext, files: list[ReceivedFile]) -> None:
    """Remove stored objects and local copies of files that will not be attached."""
    for item in files:
        if item.local is not None:
            item.local.unlink(missing_ok=True)
        try:
            await ctx.objects.delete(item.input.key)
        except Exception as exc:  # the error being handled matters more; cleanup removes orphans later
            log.warning("upload_cleanup_failed", key=item.input.key, error=str(exc))


def check_declared_size(ctx: GatewayContext, request: Request, files: int) -> None:
    """413 at once when Content-Length already says the body is too large."""
    declared = request.headers.get("content-length")
    if declared is None:
        return
    if not declared.isdigit():
        raise ApiError("invalid_input", "Invalid Content-Length")
    if int(declared) > files * ctx.max_upload_bytes + MULTIPART_OVERHEAD:
        ctx.metrics.uploads.labels("declared_too_large").inc()
        raise ApiError("payload_too_large", f"The upload is larger than the limit of {ctx.max_upload_bytes} bytes per file")


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
            "status": TaskStatus.UPLOADED, "inputs": inputs,
            "original_filename": inputs[0].original_name, "file_size": sum(i.size for i in inputs),
        }
        try:
            updated = await ctx.store.transition(
                task.task_id, expected_status=DRAFT_STATUSES, expected_version=task.version, changes=changes
            )
        except Conflict:
            task = await owned(ctx, task.task_id, task.user_id)
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


async def upload(ctx: GatewayContext, request: Request, user_id: str, task_id: str) -> Task:
    """POST /api/tasks/{id}/upload: store the files and attach them to the draft."""
    task = await owned(ctx, task_id, user_id)
    rule = input_rule(task.task_type, ctx.settings.merge_max_inputs)
    if not rule.takes_files:
        raise ApiError("upload_not_allowed", f"A {task.task_type.value} task takes no files")
    if task.status not in DRAFT_STATUSES:
        raise ApiError("invalid_state", "The task was already submitted; create a new one")
    room = rule.max_files - len(task.inputs)
    if room <= 0:
        raise ApiError("too_many_files", f"A {task.task_type.value} task takes at most {rule.max_files} file(s)")
    check_declared_size(ctx, request, room)
    reader = MultipartReader(request.stream(), boundary_of(request.headers.get("content-type")))
    files = await receive_files(ctx, reader, task, None)
    try:
        return await attach_files(ctx, task, files)
    except BaseException:
        await discard_files(ctx, files)
        raise


async def check_waiting_cap(ctx: GatewayContext, user_id: str) -> None:
    """429 when the user already has the most waiting tasks allowed (mediacraft.shared.admission)."""
    cap = ctx.settings.max_waiting_per_user
    if cap is None:
        return
    refusal = check_counts(await ctx.store.count_by_status(user_id, include_hidden=True), max_waiting_per_user=cap)
    if refusal is None:
        return
    ctx.metrics.refused.labels(refusal.code).inc()
    raise ApiError(refusal.code, refusal.message, headers={"Retry-After": "30"})


async def submit(ctx: GatewayContext, user_id: str, task_id: str, config: Any) -> tuple[Task, bool]:
    """POST /api/tasks/{id}/config: validate, suppress duplicates, queue, nudge. (task, duplicate)."""
    task = await owned(ctx, task_id, user_id)
    if task.status not in DRAFT_STATUSES:
        if task.status in ACTIVE_STATUSES and _same_config(ctx, task, config):
            ctx.metrics.duplicates.inc()
            return task, True  # the same submit sent twice
        raise ApiError("invalid_state", "The task was already submitted; retry it or create a new one")
    normalized = validate_config(task.task_type, config, task.inputs, merge_max_inputs=ctx.settings.merge_max_inputs)
    if input_rule(task.task_type, ctx.settings.merge_max_inputs).takes_files and task.status is not TaskStatus.UPLOADED:
        raise ApiError("upload_required", "Upload the file before submitting this task")
    await check_waiting_cap(ctx, user_id)
    fingerprint = task_fingerprint(user_id, task.task_type, task.inputs, normalized)
    async with ctx.submit_locks.hold(user_id):
        now = ctx.clock.now()
        earlier = await ctx.store.find_by_fingerprint(user_id, fingerprint, now - ctx.duplicate_window)
        if earlier is not None and earlier.task_id != task.task_id:
            ctx.metrics.duplicates.inc()
            await discard_draft(ctx, task)
            return earlier, True
        changes = {
            "status": TaskStatus.QUEUED, "config": normalized, "fingerprint": fingerprint,
            "submitted_at": now, "message": QUEUED_MESSAGE,
            "eta_seconds": estimate_seconds(task.task_type, task.inputs, normalized,
                                            ctx.settings.eta_seconds_per_media_second),
            "expires_at": None,
        }
        try:
            queued = await ctx.store.transition(
                task.task_id, expected_status=task.status, expected_version=task.version, changes=changes
            )
        except Conflict:
            raise ApiError("conflict", "The task changed meanwhile; fetch its status and try again") from None
    ctx.metrics.tasks_submitted.labels(task.task_type.value).inc()
    await publish_status(ctx, queued, task.status)
    await ctx.publish(
        COMMANDS, SCHEDULER_KEY,
        SubmitTask(task_id=queued.task_id, user_id=user_id, task_type=queued.task_type,
                   version=queued.version, submitted_at=queued.submitted_at),
        correlation_id=queued.task_id,
    )
    return queued, False


def _same_config(ctx: GatewayContext, task: Task, config: Any) -> bool:
    try:
        normalized = validate_config(task.task_type, config, task.inputs, merge_max_inputs=ctx.settings.merge_max_inputs)
    except ApiError:
        return False
    return normalized == task.config


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


async def submit_in_one_call(
    ctx: GatewayContext, request: Request, user_id: str, idempotency_key: str | None
) -> tuple[Task, str]:
    """POST /api/tasks/submit: create, upload and config in one multipart request.

    Form fields (task_type, config as JSON) come before the files; task_type may also be a query
    parameter. Returns the task and what happened: queued, duplicate or replayed. A failure
    removes the draft and its files, so a failed call leaves nothing behind.
    """
    check_declared_size(ctx, request, ctx.settings.merge_max_inputs)
    reader: MultipartReader | None = None
    part: PartHeaders | None = None
    if request.headers.get("content-type", "").lower().startswith("multipart/"):
        reader = MultipartReader(request.stream(), boundary_of(request.headers.get("content-type")))
        fields: dict[str, Any] = {}
        part = await reader.next_part()
        while part is not None and not part.is_file:
            raw = await reader.read_all(ctx.settings.max_form_field_bytes)
            fields[part.name] = raw.decode("utf-8", "replace")
            part = await reader.next_part()
        config = _json_field(fields.get("config"))
    else:
        fields = await small_form(request, ctx.settings.max_form_field_bytes)
        config = fields.get("config", {}) if not isinstance(fields.get("config"), str) else _json_field(fields["config"])
    task_type = parse_task_type(fields.get("task_type") or request.query_params.get("task_type"))
    rule = input_rule(task_type, ctx.settings.merge_max_inputs)
    if rule.takes_files:
        check_declared_size(ctx, request, rule.max_files)
    elif part is not None:
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
            if reader is None:
                raise ApiError("missing_file", "Send the file as multipart/form-data (field name: file)")
            files = await receive_files(ctx, reader, task, part)
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
    return result, "duplicate" if duplicate else "queued"


async def small_form(request: Request, limit: int) -> dict[str, Any]:
    """A JSON object or urlencoded form body of at most `limit` bytes (submits without files)."""
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > limit:
            raise ApiError("payload_too_large", "The request body is too large")
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "application/x-www-form-urlencoded":
        return {k: v[-1] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}
    if not raw.strip():
        return {}
    try:
        doc = json.loads(raw)
    except ValueError:
        raise ApiError("invalid_input", "Send JSON, a form, or multipart/form-data with files") from None
    if not isinstance(doc, dict):
        raise ApiError("invalid_input", "The body must be a JSON object")
    return doc


def _json_field(value: str | None) -> Any:
    if value is None or not value.strip():
        return {}
    try:
        return json.loads(value)
    except ValueError:
        raise ApiError("invalid_config", "The config field must be JSON") from None
