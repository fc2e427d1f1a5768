"""Cancel: waiting tasks end at once, running ones stop through their worker, and none runs again."""

from __future__ import annotations

from mediacraft.shared.tasks import TaskStatus
from tests.fixtures.fake_workers import behaviour
from tests.fixtures.waiting import eventually
from tests.integration.scheduler.conftest import HarnessFactory


async def test_a_queued_task_is_cancelled_at_once_and_never_starts(harness_factory: HarnessFactory) -> None:
    harness = await harness_factory(quota_per_user=1)
    await harness.start_scheduler()
    pool = await harness.start_workers()
    running = await harness.add_task("alice", behaviour("wait"), with_version=False)
    queued = await harness.add_task("alice", behaviour("noop"), with_version=False)
    await pool.wait_until(lambda: bool(pool.started(running)))
    await harness.cancel(queued, "mallory")  # someone else's cancel changes nothing
    await harness.cancel(queued, "alice")
    task = await harness.wait_status(queued, TaskStatus.CANCELLED)
    assert task.completed_at is not None and task.attempts == 0
    pool.release(running)
    await harness.wait_status(running, TaskStatus.COMPLETED)
    after = await harness.add_task("alice", behaviour("noop"))  # the line moves on past the cancelled one
    await harness.wait_status(after, TaskStatus.COMPLETED)
    assert pool.started(queued) == []
    assert (await harness.task(queued)).status == TaskStatus.CANCELLED


async def test_a_retrying_task_is_cancelled_at_once_and_its_retry_never_runs(harness_factory: HarnessFactory) -> None:
    harness = await harness_factory(retry_delays_ms=(1000,))
    scheduler = await harness.start_scheduler()
    pool = await harness.start_workers()
    task_id = await harness.add_task("alice", behaviour("fail", times=1))
    await harness.wait_status(task_id, TaskStatus.RETRYING)
    await harness.cancel(task_id, "alice")
    task = await harness.wait_status(task_id, TaskStatus.CANCELLED)
    assert task.next_retry_at is None

    async def retry_came_back() -> bool:
        return scheduler.handled["task.retry_due"] >= 1

    await eventually(retry_came_back, timeout=5, what="the delayed retry message handled")
    assert [r.attempt for r in pool.started(task_id)] == [1]
    assert (await harness.task(task_id)).status == TaskStatus.CANCELLED


async def test_a_running_task_stops_through_its_worker_and_ends_cancelled(harness_factory: HarnessFactory) -> None:
    harness = await harness_factory()
    await harness.start_scheduler()
    pool = await harness.start_workers()
    task_id = await harness.add_task("alice", behaviour("wait"))
    await pool.wait_until(lambda: bool(pool.started(task_id)))
    await harness.cancel(task_id, "alice")
    task = await harness.wait_status(task_id, TaskStatus.CANCELLED)
    assert task.lease_expires_at is None
    run = pool.started(task_id)[0]
    assert run.outcome == "job.cancelled"
    nxt = await harness.add_task("alice", behaviour("noop"))  # the slot was freed once, and reused
    await harness.wait_status(nxt, TaskStatus.COMPLETED)
    assert len(pool.started(task_id)) == 1


async def test_a_cancel_its_worker_never_confirms_ends_when_the_lease_lapses(harness_factory: HarnessFactory) -> None:
    harness = await harness_factory(lease_seconds=1.0)
    await harness.start_scheduler()
    pool = await harness.start_workers()
    task_id = await harness.add_task("alice", behaviour("hang"))
    await pool.wait_until(lambda: bool(pool.started(task_id)))
    await harness.cancel(task_id, "alice")
    await harness.wait_status(task_id, TaskStatus.CANCELLING)
    task = await harness.wait_status(task_id, TaskStatus.CANCELLED, timeout=5)
    assert task.attempts == 1 and task.retry_count == 0
