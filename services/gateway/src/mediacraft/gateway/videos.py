"""The video library: the caller's videos, reprocessing one in the background, its progress and files.

A video (mediacraft.shared.videos) is recorded when an upload of a video is accepted (here) or a
video result is final (the scheduler). It is the caller's while its source task is visible: a
hidden or expired source task hides its videos, and another user's video is a 404 like a missing
one. A reprocess is an ordinary task (`video_reprocess`, the merge pool) made from the video's
file, so it shows in the task list, counts against the quotas and can be cancelled and retried;
the video points at its latest one, moved by compare-and-set so that two starts cannot both win.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from dataclasses import dataclass
from typing import Any

from mediacraft.gateway.context import GatewayContext
from mediacraft.gateway.create import DRAFT_TTL, check_create_rate
from mediacraft.gateway.envelope import ApiError
from mediacraft.gateway.results import StoredResult
from mediacraft.gateway.status_events import publish_status
from mediacraft.gateway.task_config import estimate_seconds
from mediacraft.gateway.waiting_cap import check_waiting_cap
from mediacraft.shared import transitions
from mediacraft.shared.admission import QUEUED_MESSAGE
from mediacraft.shared.errors import Conflict, NotFound
from mediacraft.shared.logging import get_logger
from mediacraft.shared.messages import SubmitTask
from mediacraft.shared.ports.stores import VideoStore
from mediacraft.shared.tasks import (
    DRAFT_STATUSES,
    TERMINAL_STATUSES,
    InputFile,
    SubTaskStatus,
    Task,
    TaskStatus,
    TaskType,
)
from mediacraft.shared.topology import COMMANDS, SCHEDULER_KEY
from mediacraft.shared.videos import VIDEO_ID_LENGTH, Video, videos_of_upload, visible

log = get_logger(__name__)

_VIDEO_ID = re.compile(rf"^[0-9a-f]{{{VIDEO_ID_LENGTH}}}$")
MAX_VIDEOS = 100
FILE_ROLES = ("original", "rendition", "poster", "storyboard")
STARTED_MESSAGE = "Reprocessing started: follow its progress at the poll URL"


@dataclass(frozen=True)
class OwnedVideo:
    """A video the caller may see, with its source task and its latest reprocess task (if any)."""

    video: Video
    source: Task
    reprocess: Task | None


def checked_video_id(video_id: str) -> str:
    """A video id as issued, or 422 `invalid_video_id`."""
    if not _VIDEO_ID.match(video_id):
        raise ApiError("invalid_video_id", f"Video ids are {VIDEO_ID_LENGTH} lowercase hexadecimal characters")
    return video_id


def video_store(ctx: GatewayContext) -> VideoStore:
    """The store's video part (every store adapter has one)."""
    if not isinstance(ctx.store, VideoStore):
        raise ApiError("unavailable", "The video library is not available")
    return ctx.store


async def record_uploaded_videos(ctx: GatewayContext, task: Task) -> None:
    """Record the videos among a draft's accepted uploads (idempotent: a later upload to the same
    draft records them again, to the same records; a store fault is logged, the upload stands)."""
    if not isinstance(ctx.store, VideoStore):
        return
    for video in videos_of_upload(task, ctx.clock.now()):
        try:
            await ctx.store.put_video(video)
        except Exception as exc:
            log.warning("video_not_recorded", task_id=task.task_id, error=repr(exc))


async def _owned(ctx: GatewayContext, video: Video | None, user_id: str) -> OwnedVideo | None:
    if video is None:
        return None
    source, reprocess = await asyncio.gather(
        ctx.store.get_for_user(video.source_task_id, user_id),
        ctx.store.get_for_user(video.reprocess_task_id, user_id) if video.reprocess_task_id else _none(),
    )
    if not visible(video, source, ctx.clock.now()):
        return None
    assert source is not None
    return OwnedVideo(video, source, reprocess)


async def _none() -> None:
    return None


async def owned_video(ctx: GatewayContext, video_id: str, user_id: str) -> OwnedVideo:
    """The caller's visible video, or 404 (another user's looks exactly like a missing one)."""
    video = await video_store(ctx).get_video_for_user(checked_video_id(video_id), user_id)
    owned = await _owned(ctx, video, user_id)
    if owned is None:
        raise ApiError("not_found", "Video not found")
    return owned


async def list_videos(ctx: GatewayContext, user_id: str, limit: int = MAX_VIDEOS) -> list[dict[str, Any]]:
    """The caller's visible videos, newest first."""
    if not 1 <= limit <= MAX_VIDEOS:
        raise ApiError("invalid_input", f"limit must be between 1 and {MAX_VIDEOS}")
    videos = await video_store(ctx).list_videos(user_id, limit=limit)
    owned = await asyncio.gather(*(_owned(ctx, video, user_id) for video in videos))
    return [video_view(item) for item in owned if item is not None]


def running(task: Task | None) -> bool:
    """Whether a reprocess task still runs (waiting, running, retrying, being cancelled)."""
    return task is not None and task.status not in TERMINAL_STATUSES


def video_view(owned: OwnedVideo) -> dict[str, Any]:
    """The public JSON of one video."""
    video, reprocess = owned.video, owned.reprocess
    media = video.media
    base = f"/api/v1/videos/{video.video_id}"
    files: dict[str, str | None] = {"original": f"{base}/files/original"}
    storyboard: dict[str, Any] | None = None
    done = reprocess is not None and reprocess.status is TaskStatus.COMPLETED and reprocess.result is not None
    for role in FILE_ROLES[1:]:
        files[role] = f"{base}/files/{role}" if done else None
    if done and reprocess is not None and reprocess.result is not None:
        board = reprocess.result.output("storyboard")
        storyboard = dict(board.info) if board is not None else None
    return {
        "video_id": video.video_id,
        "name": video.name,
        "source": video.source,
        "source_task_id": video.source_task_id,
        "source_task_type": owned.source.task_type.value,
        "duration": media.duration if media else None,
        "width": media.width if media else None,
        "height": media.height if media else None,
        "size": video.size,
        "content_type": video.content_type,
        "created_at": video.created_at.isoformat().replace("+00:00", "Z"),
        "expires_at": _iso(owned.source.expires_at or video.expires_at),
        "reprocess_task_id": reprocess.task_id if reprocess else None,
        "reprocess_status": reprocess.status.value if reprocess else None,
        "reprocess_url": f"{base}/reprocess",
        "files": files,
        "storyboard": storyboard,
    }


def _iso(value: Any) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def progress_view(video_id: str, task: Task) -> dict[str, Any]:
    """The TaskProgressResponse of a reprocess task: status, progress and every stage in order."""
    finished = task.completed_at if task.status in TERMINAL_STATUSES else None
    message = task.error_message if task.status is TaskStatus.FAILED and task.error_message else task.message
    if task.status is TaskStatus.PROCESSING:
        message = _stage_message(task) or message
    return {
        "task_id": task.task_id,
        "video_id": video_id,
        "status": task.status.value,
        "progress": task.progress,
        "message": message or _default_message(task),
        "started_at": _iso(task.started_at),
        "finished_at": _iso(finished or (task.updated_at if task.status in TERMINAL_STATUSES else None)),
        "subtasks": [s.model_dump(mode="json") for s in task.subtasks],
        "retry_count": task.retry_count,
        "next_retry_at": _iso(task.next_retry_at),
        "error": task.error.model_dump(mode="json") if task.error else None,
        "finished": task.status in TERMINAL_STATUSES,
    }


_STATUS_MESSAGES = {
    TaskStatus.QUEUED: "Waiting in the queue",
    TaskStatus.PROCESSING: "Reprocessing",
    TaskStatus.RETRYING: "Waiting to try again",
    TaskStatus.CANCELLING: "Cancelling",
    TaskStatus.COMPLETED: "Reprocessing finished",
    TaskStatus.FAILED: "Reprocessing failed",
    TaskStatus.CANCELLED: "Cancelled",
    TaskStatus.EXPIRED: "The reprocessed files have expired",
}


STAGE_TEXTS = {
    "download": "Fetching the video",
    "probe": "Analysing the video",
    "rendition": "Making the web version",
    "poster": "Making the poster",
    "storyboard": "Making thumbnails",
    "upload": "Saving the files",
}


def _stage_message(task: Task) -> str | None:
    """What the running stage does, as a sentence: "Making the web version (encoding)"."""
    current = next((s for s in task.subtasks if s.status is SubTaskStatus.RUNNING), None)
    if current is None:
        return None
    text = STAGE_TEXTS.get(current.name, current.name)
    return f"{text} ({current.message})" if current.message else text


def _default_message(task: Task) -> str:
    return _STATUS_MESSAGES.get(task.status, task.status.value)


async def reprocess_progress(ctx: GatewayContext, user_id: str, video_id: str) -> dict[str, Any]:
    """GET /api/v1/videos/{video_id}/reprocess: the latest reprocess's progress; 404 when none ran."""
    owned = await owned_video(ctx, video_id, user_id)
    if owned.reprocess is None:
        raise ApiError("not_found", "This video has not been reprocessed; start it with run_sync")
    return progress_view(owned.video.video_id, owned.reprocess)


async def start_reprocess(ctx: GatewayContext, user_id: str, video_id: str) -> tuple[OwnedVideo, Task]:
    """POST /api/v1/videos/{video_id}/run_sync: queue a reprocess of the caller's video.

    404 for a video that is not the caller's, 409 `reprocess_running` while one runs. The task is
    inserted as a draft, the video is pointed at it (compare-and-set: of two starts one wins, the
    other's draft is removed) and it is then submitted like any task; a failure leaves nothing.
    """
    async with ctx.submit_locks.hold(user_id):
        owned = await owned_video(ctx, video_id, user_id)
        if running(owned.reprocess):
            raise _already_running(owned.video, owned.reprocess)
        check_create_rate(ctx, user_id)
        await check_waiting_cap(ctx, user_id)
        draft = await ctx.store.insert(_draft(ctx, owned.video, user_id))
        try:
            moved = await video_store(ctx).set_video_reprocess(
                owned.video.video_id, expected=owned.video.reprocess_task_id, task_id=draft.task_id
            )
            if moved is None:  # another start (another replica) won meanwhile
                current = await video_store(ctx).get_video(owned.video.video_id)
                other = None
                if current is not None and current.reprocess_task_id:
                    other = await ctx.store.get(current.reprocess_task_id)
                raise _already_running(owned.video, other)
            queued = await _submit(ctx, draft)
        except BaseException:
            await _remove_draft(ctx, draft)
            raise
    ctx.metrics.tasks_created.labels(TaskType.VIDEO_REPROCESS.value).inc()
    ctx.metrics.tasks_submitted.labels(TaskType.VIDEO_REPROCESS.value).inc()
    submitted = SubmitTask(
        task_id=queued.task_id,
        user_id=user_id,
        task_type=queued.task_type,
        version=queued.version,
        submitted_at=queued.submitted_at,
    )
    _, sent = await asyncio.gather(
        publish_status(ctx, queued, TaskStatus.CREATED),
        ctx.publish(COMMANDS, SCHEDULER_KEY, submitted, correlation_id=queued.task_id),
    )
    if not sent:  # queued in the store: the scheduler's reconcile finds it
        log.warning("submit_not_sent", task_id=queued.task_id)
    return owned, queued


def _already_running(video: Video, task: Task | None) -> ApiError:
    data = {"video_id": video.video_id, "task_id": task.task_id if task else None}
    return ApiError(
        "reprocess_running",
        "This video is already being reprocessed; follow its progress or wait until it ends",
        data=data,
    )


def _draft(ctx: GatewayContext, video: Video, user_id: str) -> Task:
    now = ctx.clock.now()
    return Task(
        task_id=str(uuid.uuid4()),
        user_id=user_id,
        task_type=TaskType.VIDEO_REPROCESS,
        status=TaskStatus.CREATED,  # a draft for an instant: its input is the video's file
        created_at=now,
        updated_at=now,
        expires_at=now + DRAFT_TTL,
        original_filename=video.name,
        file_size=video.size,
        inputs=[InputFile(key=video.key, original_name=video.name, size=video.size, media=video.media)],
        metadata={"video_id": video.video_id},
    )


async def _submit(ctx: GatewayContext, draft: Task) -> Task:
    config = {"video_id": draft.metadata["video_id"]}
    changes = {
        "config": config,
        "submitted_at": ctx.clock.now(),
        "message": QUEUED_MESSAGE,
        "eta_seconds": estimate_seconds(
            draft.task_type, draft.inputs, config, ctx.settings.eta_seconds_per_media_second
        ),
        "expires_at": None,
    }
    try:
        return await ctx.store.transition(
            draft.task_id, transitions.SUBMIT, expected_version=draft.version, changes=changes
        )
    except (Conflict, NotFound):
        raise ApiError("conflict", "The reprocess changed meanwhile; fetch its progress and try again") from None


async def _remove_draft(ctx: GatewayContext, draft: Task) -> None:
    """Remove a reprocess task that did not start (its input is the video's file: never deleted)."""
    try:
        current = await ctx.store.get(draft.task_id)
        if current is not None and current.status in DRAFT_STATUSES:
            await ctx.store.delete(draft.task_id)
    except Exception as exc:  # left for the cleanup service's draft expiry
        log.warning("draft_cleanup_failed", task_id=draft.task_id, error=str(exc))


async def video_file(ctx: GatewayContext, user_id: str, video_id: str, role: str) -> StoredResult:
    """One file of the caller's video: the original, or the latest reprocess's rendition, poster
    or storyboard (409 `not_ready` until a reprocess completed, 410 once the files expired)."""
    if role not in FILE_ROLES:
        raise ApiError("invalid_input", f"role must be one of: {', '.join(FILE_ROLES)}")
    owned = await owned_video(ctx, video_id, user_id)
    video, reprocess = owned.video, owned.reprocess
    if role == "original":
        key, name, media_type = video.key, video.name, video.content_type
    else:
        if reprocess is None or reprocess.status is not TaskStatus.COMPLETED or reprocess.result is None:
            if reprocess is not None and reprocess.status is TaskStatus.EXPIRED:
                raise ApiError("expired", "The reprocessed files have expired and were deleted")
            raise ApiError("not_ready", "Reprocess the video first; its files are ready when it completes")
        result = reprocess.result
        if role == "rendition":
            key, name, media_type = result.key, result.filename or "rendition.mp4", result.content_type
        else:
            output = result.output(role)
            if output is None:
                raise ApiError("not_found", f"This reprocess made no {role}")
            key, name, media_type = output.key, output.filename, output.content_type
    info = await ctx.objects.stat(key)
    if info is None:
        raise ApiError("expired", "The file has expired and was deleted")
    stem = video.name.rsplit(".", 1)[0] or "video"
    filename = name if role == "original" else f"{stem}-{name}"
    return StoredResult(key, info.size, info.etag, filename, media_type)
