"""Video library routes (/api/v1/videos): list, one video, reprocess in the background (run_sync,
202), its progress with subtasks, and the video's files. Each parses, calls one handler, replies."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field
from starlette.responses import Response

from mediacraft.gateway import videos
from mediacraft.gateway.download import download
from mediacraft.gateway.envelope import ApiError
from mediacraft.gateway.http import ctx_of, reply, user_of

router = APIRouter(prefix="/api/v1/videos", tags=["videos"])


class SubTaskProgress(BaseModel):
    """One stage of a reprocess, in the order it runs."""

    name: str = Field(description="probe, rendition, poster, storyboard (and the worker's download, upload)")
    status: str = Field(description="pending, running, completed or failed")
    progress: float = Field(ge=0, le=100)
    message: str | None = None


class TaskProgressResponse(BaseModel):
    """The latest reprocess of a video (`data` of GET .../reprocess)."""

    task_id: str
    video_id: str
    status: str = Field(description="queued, processing, retrying, cancelling, completed, failed, cancelled, expired")
    progress: float = Field(ge=0, le=100, description="the stages' weighted sum")
    message: str
    started_at: str | None = None
    finished_at: str | None = None
    subtasks: list[SubTaskProgress]
    retry_count: int = 0
    next_retry_at: str | None = None
    error: dict[str, Any] | None = None
    finished: bool


class AsyncTaskResponse(BaseModel):
    """A reprocess accepted (`data` of POST .../run_sync, 202)."""

    task_id: str
    video_id: str
    status: str
    message: str
    poll_url: str = Field(description="GET it for the progress (TaskProgressResponse)")


class VideoResponse(BaseModel):
    """One video of the caller."""

    video_id: str
    name: str
    source: str = Field(description="upload or result")
    source_task_id: str
    source_task_type: str
    duration: float | None = None
    width: int | None = None
    height: int | None = None
    size: int
    content_type: str
    created_at: str
    expires_at: str | None = None
    reprocess_task_id: str | None = None
    reprocess_status: str | None = None
    reprocess_url: str
    files: dict[str, str | None]
    storyboard: dict[str, Any] | None = None


class VideoListResponse(BaseModel):
    videos: list[VideoResponse]


def _envelope(model: type[BaseModel]) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI answer of a route whose envelope carries `model` in `data`."""
    return {200: {"description": "the envelope; `data` is a " + model.__name__, "model": model}}


_RUN_SYNC_DOC: dict[str, Any] = {
    "requestBody": {
        "required": False,
        "content": {
            "application/json": {"schema": {"type": "object", "properties": {}, "additionalProperties": False}}
        },
    }
}


async def _empty_body(request: Request) -> None:
    """run_sync takes no options: no body, or an empty JSON object; anything else is 422 with the field."""
    raw = await request.body()  # bounded while it streams by the middleware (MEDIACRAFT_MAX_JSON_BODY_BYTES)
    if not raw.strip():
        return
    try:
        body = json.loads(raw)
    except ValueError:
        raise ApiError("invalid_input", "The body must be JSON (or empty)") from None
    if not isinstance(body, dict):
        raise ApiError("invalid_input", "The body must be a JSON object", data={"field": "body"})
    if body:
        field = sorted(body)[0]
        raise ApiError("invalid_input", f"Unknown field {field!r}: run_sync takes no options", data={"field": field})


@router.get(
    "", summary="The caller's videos (uploads and video results), newest first", responses=_envelope(VideoListResponse)
)
async def list_videos(
    request: Request, limit: int = Query(default=videos.MAX_VIDEOS, ge=1, le=videos.MAX_VIDEOS)
) -> Response:
    return reply(request, {"videos": await videos.list_videos(ctx_of(request), user_of(request), limit)})


@router.get("/{video_id}", summary="One of the caller's videos", responses=_envelope(VideoResponse))
async def get_video(request: Request, video_id: str) -> Response:
    owned = await videos.owned_video(ctx_of(request), video_id, user_of(request))
    return reply(request, videos.video_view(owned))


@router.post(
    "/{video_id}/run_sync",
    status_code=202,
    summary="Reprocess the video in the background: web rendition, poster, storyboard (202; 409 while one runs)",
    responses={202: {"description": "the envelope; `data` is an AsyncTaskResponse", "model": AsyncTaskResponse}},
    openapi_extra=_RUN_SYNC_DOC,
)
async def run_sync(request: Request, video_id: str) -> Response:
    ctx, user_id = ctx_of(request), user_of(request)
    video_id = videos.checked_video_id(video_id)
    await _empty_body(request)
    owned, task = await videos.start_reprocess(ctx, user_id, video_id)
    answer = AsyncTaskResponse(
        task_id=task.task_id,
        video_id=owned.video.video_id,
        status=task.status.value,
        message=videos.STARTED_MESSAGE,
        poll_url=f"/api/v1/videos/{owned.video.video_id}/reprocess",
    )
    return reply(request, answer.model_dump(), status=202, headers={"Location": answer.poll_url})


@router.get(
    "/{video_id}/reprocess",
    summary="Progress of the video's latest reprocess, with its subtasks in order",
    responses=_envelope(TaskProgressResponse),
)
async def reprocess(request: Request, video_id: str) -> Response:
    data = await videos.reprocess_progress(ctx_of(request), user_of(request), video_id)
    return reply(request, TaskProgressResponse.model_validate(data).model_dump())


@router.get(
    "/{video_id}/files/{role}",
    summary="A file of the video: original, or the latest reprocess's rendition, poster or storyboard (Range)",
    response_class=Response,
    responses={200: {"content": {"video/mp4": {}, "image/jpeg": {}}}, 206: {}, 307: {}},
)
async def video_file(request: Request, video_id: str, role: str) -> Response:
    ctx = ctx_of(request)
    stored = await videos.video_file(ctx, user_of(request), video_id, role)
    return await download(ctx, stored, request.headers.get("range"))
