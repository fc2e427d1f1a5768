"""The video record: one per video a user owns (an accepted upload, a final video result).

A video names its source task and that task's final file, and never changes after it is made,
except for the one field that points at its latest reprocess task. It is visible while its source
task is: hidden with it, and gone when the task's files expire (`expires_at`, the source task's
retention). Its id is derived from the source task and the file's key, so that recording the same
video twice (an event handled again) keeps one record.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from mediacraft.shared.tasks import MediaInfo, Task, TaskStatus, TaskType

VideoSource = Literal["upload", "result"]
# Task types whose results are not videos of their own: a reprocess's files belong to its video.
NO_VIDEO_TYPES = frozenset({TaskType.VIDEO_REPROCESS})
VIDEO_ID_LENGTH = 32


class Video(BaseModel):
    """One video of a user: which file, where it came from, and its latest reprocess."""

    model_config = ConfigDict(extra="ignore")

    video_id: str
    user_id: str
    source_task_id: str
    source: VideoSource
    name: str
    key: str  # the final file's object key (an upload's key, or the completed result's)
    size: int
    content_type: str = "video/mp4"
    media: MediaInfo | None = None
    created_at: datetime
    expires_at: datetime | None = None  # the source task's retention, when known at creation
    reprocess_task_id: str | None = None  # the latest reprocess task, if any

    @property
    def duration(self) -> float | None:
        return self.media.duration if self.media is not None else None


def video_id_for(source_task_id: str, key: str) -> str:
    """The stable id of the video of `source_task_id` stored at `key`."""
    return hashlib.sha256(f"{source_task_id}\n{key}".encode()).hexdigest()[:VIDEO_ID_LENGTH]


def is_video(content_type: str | None, name: str | None = None) -> bool:
    """Whether a file of this content type (or, without one, this name) is a video."""
    if content_type and content_type != "application/octet-stream":
        return content_type.startswith("video/")
    return name is not None and name.lower().rsplit(".", 1)[-1] in {"mp4", "mov", "mkv", "webm", "m4v", "avi"}


def video_of_result(task: Task) -> Video | None:
    """The video record of a completed task's result, or None when the result is not a video."""
    result = task.result
    if task.status is not TaskStatus.COMPLETED or result is None or not is_video(result.content_type, result.filename):
        return None
    return Video(
        video_id=video_id_for(task.task_id, result.key),
        user_id=task.user_id,
        source_task_id=task.task_id,
        source="result",
        name=result.filename or result.key.rsplit("/", 1)[-1],
        key=result.key,
        size=result.size,
        content_type=result.content_type,
        media=result.media,
        created_at=task.completed_at or task.updated_at or task.created_at,
        expires_at=task.expires_at,
    )


def videos_of_upload(task: Task, at: datetime) -> list[Video]:
    """The video records of a draft's accepted uploads (the files that are videos)."""
    if task.task_type in NO_VIDEO_TYPES:
        return []
    videos: list[Video] = []
    for item in task.inputs:
        media = item.media
        if media is not None and not (media.duration and media.video_codec):
            continue  # probed, and not a moving picture (an image)
        if media is None and not is_video(None, item.original_name):
            continue
        videos.append(
            Video(
                video_id=video_id_for(task.task_id, item.key),
                user_id=task.user_id,
                source_task_id=task.task_id,
                source="upload",
                name=item.original_name,
                key=item.key,
                size=item.size,
                content_type=_content_type(item.original_name),
                media=item.media,
                created_at=at,
                expires_at=task.expires_at,
            )
        )
    return videos


_CONTENT_TYPES = {"mov": "video/quicktime", "mkv": "video/x-matroska", "webm": "video/webm"}


def _content_type(name: str) -> str:
    """The media type of an uploaded video by its name (MP4 unless it says otherwise)."""
    return _CONTENT_TYPES.get(name.lower().rsplit(".", 1)[-1], "video/mp4")


def visible(video: Video, source: Task | None, now: datetime) -> bool:
    """Whether the owner still sees `video`: its source task exists, is not hidden, its files
    have not expired."""
    if source is None or source.hidden or source.status is TaskStatus.EXPIRED:
        return False
    expires = source.expires_at or video.expires_at
    return expires is None or expires > now
