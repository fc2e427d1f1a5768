"""The VideoStore part of SqliteStore: one `videos` table beside the tasks."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from mediacraft.shared.adapters.store.codec import as_utc, check_limit, to_us
from mediacraft.shared.videos import Video

VIDEO_SCHEMA = """
CREATE TABLE IF NOT EXISTS videos (
    video_id       TEXT PRIMARY KEY,
    user_id        TEXT NOT NULL,
    source_task_id TEXT NOT NULL,
    created_at_us  INTEGER NOT NULL,
    doc            TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS videos_user_created ON videos (user_id, created_at_us, video_id);
CREATE INDEX IF NOT EXISTS videos_source ON videos (source_task_id);
"""


def utc_video(video: Video) -> Video:
    """The video with its datetimes in UTC."""
    expires = None if video.expires_at is None else as_utc(video.expires_at)
    return video.model_copy(update={"created_at": as_utc(video.created_at), "expires_at": expires})


def _video(rows: list[Any]) -> Video | None:
    return utc_video(Video.model_validate_json(rows[0][0])) if rows else None


class SqliteVideos:
    """Mixed into SqliteStore, whose `_rows` runs the statements."""

    async def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        raise NotImplementedError

    async def put_video(self, video: Video) -> Video:
        """Store the video unless its id exists; the stored record either way."""
        video = utc_video(video)
        try:
            await self._rows(
                "INSERT INTO videos (video_id, user_id, source_task_id, created_at_us, doc) VALUES (?, ?, ?, ?, ?)",
                (video.video_id, video.user_id, video.source_task_id, to_us(video.created_at), video.model_dump_json()),
            )
        except sqlite3.IntegrityError:
            stored = await self.get_video(video.video_id)
            if stored is None:  # removed between the two statements: the caller may try again
                raise
            return stored
        return video

    async def get_video(self, video_id: str) -> Video | None:
        """The video, or None."""
        return _video(await self._rows("SELECT doc FROM videos WHERE video_id = ?", (video_id,)))

    async def get_video_for_user(self, video_id: str, user_id: str) -> Video | None:
        """The video only if `user_id` owns it."""
        rows = await self._rows("SELECT doc FROM videos WHERE video_id = ? AND user_id = ?", (video_id, user_id))
        return _video(rows)

    async def list_videos(self, user_id: str, *, limit: int = 100) -> list[Video]:
        """The user's videos, newest first."""
        rows = await self._rows(
            "SELECT doc FROM videos WHERE user_id = ? ORDER BY created_at_us DESC, video_id DESC LIMIT ?",
            (user_id, check_limit(limit)),
        )
        return [utc_video(Video.model_validate_json(row[0])) for row in rows]

    async def videos_of_task(self, source_task_id: str) -> list[Video]:
        """The videos whose source is the task."""
        rows = await self._rows(
            "SELECT doc FROM videos WHERE source_task_id = ? ORDER BY created_at_us, video_id", (source_task_id,)
        )
        return [utc_video(Video.model_validate_json(row[0])) for row in rows]

    async def set_video_reprocess(self, video_id: str, *, expected: str | None, task_id: str) -> Video | None:
        """Compare-and-set of the video's latest reprocess task."""
        rows = await self._rows(
            "UPDATE videos SET doc = json_set(doc, '$.reprocess_task_id', ?)"
            " WHERE video_id = ? AND json_extract(doc, '$.reprocess_task_id') IS ? RETURNING doc",
            (task_id, video_id, expected),
        )
        return _video(rows)

    async def delete_videos_of_task(self, source_task_id: str) -> int:
        """Remove the task's video records."""
        return len(await self._rows("DELETE FROM videos WHERE source_task_id = ? RETURNING 1", (source_task_id,)))
