"""Finished tasks lose their files after their retention and show `expired`; drafts go after a
day; tasks that may be running are never touched. Against SeaweedFS, on SQLite and MongoDB."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mediacraft.cleanup.reasons import Reason
from mediacraft.cleanup.report import Kind, Outcome
from mediacraft.cleanup.service import CleanupService
from mediacraft.shared import transitions
from mediacraft.shared.clock import FakeClock
from mediacraft.shared.tasks import TaskStatus
from mediacraft.shared.transitions import Transition
from mediacraft.shared.videos import video_of_result, videos_of_upload
from tests.integration.cleanup.conftest import LiveView
from tests.integration.cleanup.world import DAY, HOUR, World, files_of, keys

ServiceFactory = Callable[..., CleanupService]


async def test_finished_tasks_past_retention_lose_their_files_and_show_expired(
    world: World, store: Any, objects: Any, make_service: ServiceFactory, live_view: LiveView
) -> None:
    old_done = await world.finished(TaskStatus.COMPLETED, age=7 * DAY + HOUR)
    old_failed = await world.finished(TaskStatus.FAILED, age=3 * DAY + HOUR, user="bob")
    old_cancelled = await world.finished(TaskStatus.CANCELLED, age=3 * DAY + HOUR)
    recent_done = await world.finished(TaskStatus.COMPLETED, age=6 * DAY)  # inside 7 days
    recent_failed = await world.finished(TaskStatus.FAILED, age=2 * DAY)  # inside 3 days
    hidden = await world.finished(TaskStatus.COMPLETED, age=HOUR, hidden=True)  # the user hid it
    expiring = (old_done, old_failed, old_cancelled, hidden)

    report = await make_service().run_once()

    assert report.outcome is Outcome.COMPLETED
    for task in expiring:
        stored = await store.get(task.task_id)
        assert stored.status is TaskStatus.EXPIRED and stored.version == task.version + 1
        assert stored.message and "deleted" in stored.message
        assert stored.result == task.result and stored.inputs == task.inputs  # the record says what it was
        assert await keys(objects, f"uploads/{task.user_id}/{task.task_id}/") == set()
        assert await keys(objects, f"results/{task.task_id}/") == set()
    assert (await store.get(old_done.task_id)).message == (
        "The result file has expired and was deleted: results are kept for 7 days."
    )
    for task in (recent_done, recent_failed):
        assert await store.get(task.task_id) == task
        assert files_of(task) <= await keys(objects)

    expired = report.of_kind(Kind.TASK_FILES)
    assert {r.task_id: r.reason for r in expired} == {
        old_done.task_id: Reason.RETENTION_COMPLETED,
        old_failed.task_id: Reason.RETENTION_FAILED,
        old_cancelled.task_id: Reason.RETENTION_CANCELLED,
        hidden.task_id: Reason.HIDDEN,
    }
    # every file under the task's folders went, the first attempt's leftover included
    done_removal = next(r for r in expired if r.task_id == old_done.task_id)
    assert set(done_removal.keys) == files_of(old_done) | {f"results/{old_done.task_id}/1/partial.mp4"}
    assert done_removal.bytes == 3000

    events = await live_view.events()
    assert {(e.task_id, e.previous_status, e.status) for e in events} == {
        (t.task_id, t.status, TaskStatus.EXPIRED) for t in expiring
    }
    assert all(e.task["status"] == "expired" and e.version == e.task["version"] for e in events)

    again = await make_service().run_once()  # nothing is done twice
    assert again.removals == [] and await live_view.events() == []


async def test_tasks_that_may_be_running_are_never_touched(
    world: World, store: Any, objects: Any, make_service: ServiceFactory, clock: FakeClock
) -> None:
    running = [
        await world.running(status, age=30 * DAY)
        for status in (TaskStatus.QUEUED, TaskStatus.PROCESSING, TaskStatus.RETRYING, TaskStatus.CANCELLING)
    ]
    before = await keys(objects)
    await clock.advance((60 * DAY).total_seconds())  # every file is far past any grace period

    report = await make_service().run_once()

    assert report.outcome is Outcome.COMPLETED and report.removals == []
    assert await keys(objects) == before  # inputs, and results not recorded yet, all still there
    for task in running:
        assert await store.get(task.task_id) == task


async def test_drafts_never_submitted_are_removed_with_their_uploads_after_a_day(
    world: World, store: Any, objects: Any, make_service: ServiceFactory, live_view: LiveView
) -> None:
    stale_uploaded = await world.draft(TaskStatus.UPLOADED, age=DAY + HOUR)
    stale_created = await world.draft(TaskStatus.CREATED, age=25 * HOUR, user="bob")
    fresh = await world.draft(TaskStatus.UPLOADED, age=23 * HOUR)
    deleted = await world.draft(TaskStatus.UPLOADED, age=HOUR)
    await store.set_user_flags(deleted.task_id, "alice", hidden=True)  # DELETE /api/tasks/{id}

    report = await make_service().run_once()

    for gone in (stale_uploaded, stale_created, deleted):
        assert await store.get(gone.task_id) is None
        assert await keys(objects, f"uploads/{gone.user_id}/{gone.task_id}/") == set()
    assert await store.get(fresh.task_id) == fresh and files_of(fresh) <= await keys(objects)
    drafts = {r.task_id: r for r in report.of_kind(Kind.DRAFT)}
    assert {task_id: r.reason for task_id, r in drafts.items()} == {
        stale_uploaded.task_id: Reason.DRAFT_ABANDONED,
        stale_created.task_id: Reason.DRAFT_ABANDONED,
        deleted.task_id: Reason.HIDDEN,
    }
    assert set(drafts[stale_uploaded.task_id].keys) == files_of(stale_uploaded)
    events = await live_view.events()
    assert {(e.task_id, e.previous_status, e.status) for e in events} == {
        (stale_uploaded.task_id, TaskStatus.UPLOADED, TaskStatus.EXPIRED),
        (stale_created.task_id, TaskStatus.CREATED, TaskStatus.EXPIRED),
        (deleted.task_id, TaskStatus.UPLOADED, TaskStatus.EXPIRED),
    }


async def test_a_task_retried_while_the_pass_runs_keeps_its_files(
    world: World, store: Any, objects: Any, make_service: ServiceFactory
) -> None:
    failed = await world.finished(TaskStatus.FAILED, age=4 * DAY)

    class RetryDuringPass:
        """The scheduler re-queues the task between the pass's scan and its compare-and-set."""

        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

        async def transition(self, task_id: str, transition: Transition, **kwargs: Any) -> Any:
            if task_id == failed.task_id and transition is transitions.EXPIRE_FILES:
                current = await self.inner.get(task_id)
                await self.inner.transition(task_id, transitions.RESTART, expected_version=current.version)
            return await self.inner.transition(task_id, transition, **kwargs)

    report = await make_service(store=RetryDuringPass(store)).run_once()

    assert [s.task_id for s in report.skipped] == [failed.task_id]
    assert report.of_kind(Kind.TASK_FILES) == []
    assert (await store.get(failed.task_id)).status is TaskStatus.QUEUED
    assert files_of(failed) <= await keys(objects)  # the retry can read its input


async def test_a_draft_claimed_by_a_pass_that_died_is_finished_by_the_next(
    world: World, store: Any, objects: Any, make_service: ServiceFactory
) -> None:
    draft = await world.draft(TaskStatus.UPLOADED, age=2 * DAY)
    # what a pass leaves when it dies after its compare-and-set: an expired draft and its file
    await store.transition(draft.task_id, transitions.EXPIRE_DRAFT, expected_version=draft.version)

    report = await make_service().run_once()

    assert [r.task_id for r in report.of_kind(Kind.DRAFT)] == [draft.task_id]
    assert await store.get(draft.task_id) is None
    assert await keys(objects, "uploads/") == set()


async def test_a_pass_stops_at_its_removal_budget_and_the_next_one_goes_on(
    world: World, store: Any, make_service: ServiceFactory
) -> None:
    tasks = [await world.finished(TaskStatus.FAILED, age=(4 + n) * DAY) for n in range(3)]

    first = await make_service(cleanup_max_removals=2).run_once()
    second = await make_service(cleanup_max_removals=2).run_once()

    assert first.truncated and len(first.of_kind(Kind.TASK_FILES)) == 2
    assert not second.truncated and len(second.of_kind(Kind.TASK_FILES)) == 1
    assert [(await store.get(t.task_id)).status for t in tasks] == [TaskStatus.EXPIRED] * 3


async def test_a_tasks_videos_expire_with_its_files(world: World, store: Any, make_service: ServiceFactory) -> None:
    old_done = await world.finished(TaskStatus.COMPLETED, age=7 * DAY + HOUR)
    recent_done = await world.finished(TaskStatus.COMPLETED, age=6 * DAY)
    for task in (old_done, recent_done):
        stored = await store.get(task.task_id)
        video = video_of_result(stored)
        assert video is not None
        await store.put_video(video)
        await store.put_video(videos_of_upload(stored, world.clock.now())[0])
        assert len(await store.videos_of_task(task.task_id)) == 2

    await make_service().run_once()

    assert await store.videos_of_task(old_done.task_id) == []
    assert len(await store.videos_of_task(recent_done.task_id)) == 2
