"""The VideoStore contract: every store adapter runs these (see test_video_store_*.py)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from mediacraft.shared.clock import FakeClock
from mediacraft.shared.errors import InvalidInput
from mediacraft.shared.tasks import InputFile, MediaInfo, ResultFile, TaskStatus
from mediacraft.shared.videos import Video, video_id_for, video_of_result, videos_of_upload, visible
from tests.contracts.store import T0, make_task


def make_video(user_id: str = "alice", *, task_id: str = "t1", key: str | None = None, **fields: Any) -> Video:
    key = key or f"results/{task_id}/1/result.mp4"
    fields.setdefault("created_at", T0)
    return Video(
        video_id=video_id_for(task_id, key),
        user_id=user_id,
        source_task_id=task_id,
        source=fields.pop("source", "result"),
        name=fields.pop("name", "result.mp4"),
        key=key,
        size=fields.pop("size", 1234),
        media=fields.pop("media", MediaInfo(duration=2.5, width=320, height=240, video_codec="h264")),
        **fields,
    )


class VideoStoreContract:
    """Behaviour every VideoStore adapter must have."""

    @pytest.fixture
    def clock(self) -> FakeClock:
        return FakeClock(T0)

    @pytest.fixture
    async def store(self, make_store: Any, clock: FakeClock) -> Any:
        store = make_store(clock)
        await store.start()
        yield store
        await store.close()

    async def test_a_video_reads_back_exactly_as_written(self, store: Any) -> None:
        video = make_video(expires_at=T0 + timedelta(days=7, microseconds=3))
        assert await store.put_video(video) == video
        assert await store.get_video(video.video_id) == video
        assert await store.get_video_for_user(video.video_id, "alice") == video

    async def test_a_video_is_made_once_whatever_the_repeats(self, store: Any) -> None:
        first = make_video()
        again = first.model_copy(update={"name": "renamed.mp4", "size": 1})
        assert await store.put_video(first) == first
        assert await store.put_video(again) == first  # the stored record, unchanged
        copies = await asyncio.gather(*(store.put_video(first) for _ in range(5)))
        assert copies == [first] * 5
        assert await store.list_videos("alice") == [first]

    async def test_another_users_video_is_not_found(self, store: Any) -> None:
        video = await store.put_video(make_video())
        assert await store.get_video_for_user(video.video_id, "bob") is None
        assert await store.get_video("missing") is None
        assert await store.list_videos("bob") == []

    async def test_a_users_videos_are_listed_newest_first_and_limited(self, store: Any) -> None:
        videos = [
            await store.put_video(make_video(task_id=f"t{n}", created_at=T0 + timedelta(microseconds=n)))
            for n in range(4)
        ]
        await store.put_video(make_video("bob", task_id="b1"))
        assert await store.list_videos("alice") == videos[::-1]
        assert await store.list_videos("alice", limit=2) == videos[:1:-1]
        with pytest.raises(InvalidInput):
            await store.list_videos("alice", limit=0)

    async def test_the_videos_of_a_task_are_found_and_removed_together(self, store: Any) -> None:
        upload = await store.put_video(make_video(task_id="t1", key="uploads/alice/t1/in.mp4", source="upload"))
        result = await store.put_video(make_video(task_id="t1", created_at=T0 + timedelta(seconds=1)))
        other = await store.put_video(make_video(task_id="t2"))
        assert await store.videos_of_task("t1") == [upload, result]
        assert await store.delete_videos_of_task("t1") == 2
        assert await store.videos_of_task("t1") == []
        assert await store.list_videos("alice") == [other]
        assert await store.delete_videos_of_task("t1") == 0

    async def test_the_latest_reprocess_moves_by_compare_and_set(self, store: Any) -> None:
        video = await store.put_video(make_video())
        assert video.reprocess_task_id is None
        one = await store.set_video_reprocess(video.video_id, expected=None, task_id="r1")
        assert one is not None and one.reprocess_task_id == "r1"
        assert await store.set_video_reprocess(video.video_id, expected=None, task_id="r2") is None  # lost race
        two = await store.set_video_reprocess(video.video_id, expected="r1", task_id="r2")
        assert two is not None and two.reprocess_task_id == "r2"
        assert (await store.get_video(video.video_id)).reprocess_task_id == "r2"
        assert await store.set_video_reprocess("missing", expected=None, task_id="r3") is None
        # everything else stays as it was made
        assert two.model_copy(update={"reprocess_task_id": None}) == video

    async def test_only_one_of_two_concurrent_starts_wins(self, store: Any) -> None:
        video = await store.put_video(make_video())
        answers = await asyncio.gather(
            *(store.set_video_reprocess(video.video_id, expected=None, task_id=f"r{n}") for n in range(4))
        )
        winners = [a for a in answers if a is not None]
        assert len(winners) == 1
        assert (await store.get_video(video.video_id)).reprocess_task_id == winners[0].reprocess_task_id


def test_a_completed_video_result_makes_a_video_named_after_its_final_file() -> None:
    result = ResultFile(key="results/t9/2/clean.mp4", size=99, content_type="video/mp4", filename="clean.mp4")
    task = make_task(task_id="t9", status=TaskStatus.COMPLETED, result=result, completed_at=T0)
    video = video_of_result(task)
    assert video is not None
    assert (video.key, video.name, video.size, video.source_task_id) == (result.key, "clean.mp4", 99, "t9")
    assert video.video_id == video_id_for("t9", result.key)
    image = result.model_copy(update={"content_type": "image/png", "filename": "a.png"})
    assert video_of_result(task.model_copy(update={"result": image})) is None
    assert video_of_result(task.model_copy(update={"status": TaskStatus.PROCESSING})) is None


def test_a_video_is_hidden_with_its_task_and_goes_when_its_files_expire() -> None:
    task = make_task(status=TaskStatus.COMPLETED, expires_at=T0 + timedelta(days=1))
    video = make_video(task_id=task.task_id)
    assert visible(video, task, T0)
    assert not visible(video, task.model_copy(update={"hidden": True}), T0)
    assert not visible(video, task.model_copy(update={"status": TaskStatus.EXPIRED}), T0)
    assert not visible(video, task, T0 + timedelta(days=2))
    assert not visible(video, None, T0)


def test_only_the_uploads_that_are_videos_make_videos() -> None:
    clip = InputFile(
        key="uploads/alice/t1/a.mov",
        original_name="a.mov",
        size=5,
        media=MediaInfo(duration=2.0, width=64, height=64, video_codec="h264"),
    )
    still = InputFile(key="uploads/alice/t1/b.png", original_name="b.png", size=5, media=MediaInfo(width=64, height=64))
    task = make_task(task_id="t1", status=TaskStatus.UPLOADED, inputs=[clip, still])
    [video] = videos_of_upload(task, T0)
    assert (video.key, video.name, video.source, video.content_type) == (clip.key, "a.mov", "upload", "video/quicktime")
    assert video.video_id == video_id_for("t1", clip.key) and video.media == clip.media
