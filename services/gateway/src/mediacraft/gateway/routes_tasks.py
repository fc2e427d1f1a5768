"""Task routes: create, upload, config (submit), one-call submit, status, download, preview,
cancel, retry, hide, notified, clear finished, unfinished. Each parses, calls one handler, replies."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field
from starlette.responses import Response

from mediacraft.gateway import controls, queries
from mediacraft.gateway.body_stream import BodyStream
from mediacraft.gateway.create import create_draft
from mediacraft.gateway.download import download
from mediacraft.gateway.envelope import ApiError
from mediacraft.gateway.frame_preview import preview_frame
from mediacraft.gateway.http import checked_task_id, ctx_of, reply, user_of
from mediacraft.gateway.idempotency import check_key, request_hash
from mediacraft.gateway.one_call import submit_in_one_call
from mediacraft.gateway.preview import FrameRequest
from mediacraft.gateway.results import stored_result
from mediacraft.gateway.submission import submit
from mediacraft.gateway.task_config import parse_task_type
from mediacraft.gateway.upload_flow import upload_files
from mediacraft.gateway.views import task_view

router = APIRouter(prefix="/api/tasks", tags=["tasks"])

_MULTIPART_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "file": {
                            "type": "array",
                            "items": {"type": "string", "format": "binary"},
                            "description": "one or more files, in order (field name repeated)",
                        }
                    },
                }
            }
        },
    }
}
_SUBMIT_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["task_type"],
                    "properties": {
                        "task_type": {
                            "type": "string",
                            "enum": ["watermark_removal", "video_merge", "image_generation", "video_generation"],
                        },
                        "config": {
                            "type": "string",
                            "description": "the task's config as JSON (sent before the files)",
                        },
                        "file": {"type": "array", "items": {"type": "string", "format": "binary"}},
                    },
                }
            }
        },
    }
}


class CreateBody(BaseModel):
    task_type: str = Field(description="watermark_removal, video_merge, image_generation or video_generation")


class NotifiedBody(BaseModel):
    task_ids: list[str] = Field(max_length=100)


class ClearBody(BaseModel):
    finished_before: datetime | None = Field(
        default=None, description="Hide only tasks finished by this instant (what the list showed); default: all"
    )


async def _json_body(request: Request) -> Any:
    raw = await request.body()  # bounded while it streams by the middleware (MEDIACRAFT_MAX_JSON_BODY_BYTES)
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except ValueError:
        raise ApiError("invalid_input", "The body must be JSON") from None


def _body_stream(request: Request) -> BodyStream:
    """The request body as a stream still to be read, with its Content-Type and declared length."""
    declared = request.headers.get("content-length")
    if declared is not None and not declared.isdigit():
        raise ApiError("invalid_input", "Invalid Content-Length")
    return BodyStream(
        request.stream(), request.headers.get("content-type"), int(declared) if declared is not None else None
    )


@router.get("/{task_id}/status", summary="A task's status, progress, stage, ETA, queue position, retries, error")
async def status(request: Request, task_id: str) -> Response:
    return reply(request, await queries.status(ctx_of(request), user_of(request), checked_task_id(task_id)))


@router.post("/create", status_code=201, summary="Create a task (a draft until its config is sent)")
async def create(request: Request, body: CreateBody) -> Response:
    ctx, user_id = ctx_of(request), user_of(request)
    task_type = parse_task_type(body.task_type)
    key = check_key(request.headers.get("idempotency-key"))
    idem = (key, request_hash("create", body.model_dump())) if key else None
    task, replayed = await create_draft(ctx, user_id, task_type, idempotency=idem)
    headers = {"Idempotent-Replayed": "true"} if replayed else None
    return reply(request, task_view(task), status=201, headers=headers)


@router.post(
    "/submit", status_code=202, summary="Create, upload and submit in one multipart request", openapi_extra=_SUBMIT_DOC
)
async def submit_all(request: Request) -> Response:
    ctx, user_id = ctx_of(request), user_of(request)
    key = check_key(request.headers.get("idempotency-key"))
    task, outcome = await submit_in_one_call(
        ctx, user_id, _body_stream(request), task_type_param=request.query_params.get("task_type"), idempotency_key=key
    )
    if outcome == "duplicate":
        return reply(request, {**task_view(task), "duplicate": True})  # the earlier task, nothing new accepted
    headers = {"Idempotent-Replayed": "true"} if outcome == "replayed" else None
    return reply(request, {**task_view(task), "duplicate": False}, status=202, headers=headers)


@router.get("/unfinished", summary="Drafts and waiting or running tasks")
async def unfinished(request: Request) -> Response:
    return reply(request, {"tasks": await queries.unfinished(ctx_of(request), user_of(request))})


@router.post("/clear-finished", summary="Hide the finished tasks (completed, failed, cancelled, expired)")
async def clear_finished(request: Request, body: ClearBody | None = None) -> Response:
    before = body.finished_before if body is not None else None
    cleared = await controls.clear_finished(ctx_of(request), user_of(request), finished_before=before)
    return reply(request, {"cleared": len(cleared), "task_ids": cleared})


@router.post("/unhide", summary="Show hidden tasks in the list again")
async def unhide(request: Request, body: NotifiedBody) -> Response:
    ids = [checked_task_id(t) for t in body.task_ids]
    shown = await controls.show_again(ctx_of(request), user_of(request), ids)
    return reply(request, {"shown": shown})


@router.post("/notified", summary="Mark several tasks as announced to the user")
async def notified_many(request: Request, body: NotifiedBody) -> Response:
    ids = [checked_task_id(t) for t in body.task_ids]
    marked = await controls.mark_notified(ctx_of(request), user_of(request), ids)
    return reply(request, {"marked": marked})


@router.post("/{task_id}/upload", summary="Upload the task's file(s)", openapi_extra=_MULTIPART_DOC)
async def upload(request: Request, task_id: str) -> Response:
    task = await upload_files(ctx_of(request), user_of(request), checked_task_id(task_id), _body_stream(request))
    return reply(request, task_view(task))


@router.post("/{task_id}/config", status_code=202, summary="Set the config and submit the task")
async def config(request: Request, task_id: str) -> Response:
    task_id = checked_task_id(task_id)
    body = await _json_body(request)
    cfg = body.get("config", body) if isinstance(body, dict) else body
    task, duplicate = await submit(ctx_of(request), user_of(request), task_id, cfg)
    if duplicate:
        return reply(request, {**task_view(task), "duplicate": True})  # the earlier task, nothing new accepted
    return reply(request, {**task_view(task), "duplicate": False}, status=202)


@router.get(
    "/{task_id}/download",
    summary="Download the result (supports Range, or redirects to a short-lived URL)",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}, 206: {}, 307: {}},
)
async def get_result(request: Request, task_id: str) -> Response:
    ctx = ctx_of(request)
    result = await stored_result(ctx, user_of(request), checked_task_id(task_id))
    return await download(ctx, result, request.headers.get("range"))


@router.head("/{task_id}/download", include_in_schema=False)
async def head_result(request: Request, task_id: str) -> Response:
    ctx = ctx_of(request)
    result = await stored_result(ctx, user_of(request), checked_task_id(task_id))
    return await download(ctx, result, request.headers.get("range"), head=True)


@router.get(
    "/{task_id}/preview",
    summary="One frame of an uploaded video as JPEG (?t=seconds or ?frame=n)",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}},
)
async def preview(
    request: Request,
    task_id: str,
    t: float | None = Query(default=None, ge=0, le=86_400),
    frame: int | None = Query(default=None, ge=0, le=10_000_000),
    input: int = Query(default=0, ge=0, le=100),
) -> Response:
    ctx, user_id, wanted = ctx_of(request), user_of(request), FrameRequest(seconds=t, frame=frame)
    shot = await preview_frame(ctx, user_id, checked_task_id(task_id), input_index=input, want=wanted)
    return Response(
        shot.jpeg,
        media_type="image/jpeg",
        headers={
            "Cache-Control": "private, max-age=300",
            "X-Frame-Time": f"{shot.seconds:.3f}",
            "X-Frame-Width": str(shot.width or ""),
            "X-Frame-Height": str(shot.height or ""),
        },
    )


@router.post("/{task_id}/cancel", status_code=202, summary="Cancel a waiting, running or draft task")
async def cancel(request: Request, task_id: str) -> Response:
    answer = await controls.cancel(ctx_of(request), user_of(request), checked_task_id(task_id))
    return reply(request, {**task_view(answer.task), "notice": answer.notice}, status=202)


@router.post("/{task_id}/retry", status_code=202, summary="Run a failed or cancelled task again")
async def retry(request: Request, task_id: str) -> Response:
    answer = await controls.retry(ctx_of(request), user_of(request), checked_task_id(task_id))
    return reply(request, {**task_view(answer.task), "notice": answer.notice}, status=202)


@router.post(
    "/{task_id}/detect", status_code=202, summary="Look for the watermark of an uploaded video (answer in `detection`)"
)
async def detect(request: Request, task_id: str) -> Response:
    task = await controls.detect(ctx_of(request), user_of(request), checked_task_id(task_id))
    return reply(request, task_view(task), status=202)


@router.post("/{task_id}/hide", summary="Hide a task from the list")
async def hide(request: Request, task_id: str) -> Response:
    task = await controls.set_flags(ctx_of(request), user_of(request), checked_task_id(task_id), hidden=True)
    return reply(request, task_view(task))


@router.delete("/{task_id}", summary="Delete (hide) a task")
async def delete(request: Request, task_id: str) -> Response:
    task = await controls.set_flags(ctx_of(request), user_of(request), checked_task_id(task_id), hidden=True)
    return reply(request, task_view(task))


@router.post("/{task_id}/notified", summary="Mark a finished task as announced")
async def notified(request: Request, task_id: str) -> Response:
    task = await controls.set_flags(ctx_of(request), user_of(request), checked_task_id(task_id), notified=True)
    return reply(request, task_view(task))
