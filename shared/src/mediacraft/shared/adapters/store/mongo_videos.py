"""The VideoStore part of MongoStore: a `videos` collection keyed by video_id.

Documents keep the record's JSON form (datetimes as ISO text, microseconds included) plus
`_us_created` for ordering, so a record reads back exactly as written.
"""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument
from pymongo.errors import DuplicateKeyError

from mediacraft.shared.adapters.store.codec import as_utc, check_limit, to_us
from mediacraft.shared.videos import Video

VIDEO_INDEXES = [
    IndexModel([("user_id", ASCENDING), ("_us_created", DESCENDING), ("_id", DESCENDING)], name="user_created"),
    IndexModel([("source_task_id", ASCENDING)], name="source"),
]


def _document(video: Video) -> dict[str, Any]:
    return {"_id": video.video_id, "_us_created": to_us(video.created_at), **video.model_dump(mode="json")}


def _video(doc: dict[str, Any] | None) -> Video | None:
    if doc is None:
        return None
    video = Video.model_validate({k: v for k, v in doc.items() if not k.startswith("_")})
    expires = None if video.expires_at is None else as_utc(video.expires_at)
    return video.model_copy(update={"created_at": as_utc(video.created_at), "expires_at": expires})


class MongoVideos:
    """Mixed into MongoStore, which sets `_videos` when it starts."""

    _videos: Any = None

    def _video_collection(self) -> Any:
        if self._videos is None:
            raise RuntimeError("MongoStore is not started")
        return self._videos

    async def put_video(self, video: Video) -> Video:
        """Store the video unless its id exists; the stored record either way."""
        try:
            await self._video_collection().insert_one(_document(video))
        except DuplicateKeyError:
            stored = await self.get_video(video.video_id)
            if stored is None:
                raise
            return stored
        return _video(_document(video)) or video

    async def get_video(self, video_id: str) -> Video | None:
        """The video, or None."""
        return _video(await self._video_collection().find_one({"_id": video_id}))

    async def get_video_for_user(self, video_id: str, user_id: str) -> Video | None:
        """The video only if `user_id` owns it."""
        return _video(await self._video_collection().find_one({"_id": video_id, "user_id": user_id}))

    async def list_videos(self, user_id: str, *, limit: int = 100) -> list[Video]:
        """The user's videos, newest first."""
        cursor = (
            self._video_collection()
            .find({"user_id": user_id})
            .sort([("_us_created", DESCENDING), ("_id", DESCENDING)])
            .limit(check_limit(limit))
        )
        return [video for doc in await cursor.to_list(length=None) if (video := _video(doc)) is not None]

    async def videos_of_task(self, source_task_id: str) -> list[Video]:
        """The videos whose source is the task."""
        cursor = (
            self._video_collection()
            .find({"source_task_id": source_task_id})
            .sort([("_us_created", ASCENDING), ("_id", ASCENDING)])
        )
        return [video for doc in await cursor.to_list(length=None) if (video := _video(doc)) is not None]

    async def set_video_reprocess(self, video_id: str, *, expected: str | None, task_id: str) -> Video | None:
        """Compare-and-set of the video's latest reprocess task."""
        doc = await self._video_collection().find_one_and_update(
            {"_id": video_id, "reprocess_task_id": expected},
            {"$set": {"reprocess_task_id": task_id}},
            return_document=ReturnDocument.AFTER,
        )
        return _video(doc)

    async def delete_videos_of_task(self, source_task_id: str) -> int:
        """Remove the task's video records."""
        result = await self._video_collection().delete_many({"source_task_id": source_task_id})
        return int(result.deleted_count)
