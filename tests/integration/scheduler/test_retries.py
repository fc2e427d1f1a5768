"""Retries through the delay queues: the schedule as configured, visible while waiting, bounded."""

from __future__ import annotations

from datetime import timedelta
from itertools import pairwise

from mediacraft.shared.tasks import Task, TaskStatus
from tests.fixtures.fake_workers import behaviour
from tests.fixtures.waiting import eventually
from tests.integration.scheduler.conftest import HarnessFactory

DELAYS_S = (0.3, 0.6, 0.9)


async def test_a_job_failing_twice_completes_on_the_schedule_with_its_retries_visible(
    harness_factory: HarnessFactory,
) -> None:
    harness = await harness_factory()
    await harness.start_scheduler()
    pool = await harness.start_workers()
    task_id = await harness.add_task(
        "alice", behaviour("fail", times=2, code="backend_unavailable", message="The generation backend is down")
    )
    seen: dict[int, Task] = {}

    async def watch() -> Task | None:
        task = await harness.task(task_id)
        if task.status == TaskStatus.RETRYING:
            seen.setdefault(task.retry_count, task)
        return task if task.status == TaskStatus.COMPLETED else None

    done = await eventually(watch, timeout=15, interval=0.01, what="completed after two failures")
    assert (done.retry_count, done.attempts, done.error) == (2, 3, None)
    assert sorted(seen) == [1, 2]  # both waits were visible in the store
    runs = pool.started(task_id)
    assert [r.attempt for r in runs] == [1, 2, 3]
    for number, (failed, retried) in enumerate(pairwise(runs), start=1):
        waiting = seen[number]
        assert waiting.error is not None and waiting.error.code == "backend_unavailable"
        assert waiting.error_message == "The generation backend is down"
        assert waiting.next_retry_at is not None
        assert failed.ended is not None
        planned = DELAYS_S[number - 1]
        # next_retry_at is the failure time plus the step, and the retry really waited that long
        assert abs(waiting.next_retry_at.timestamp() - (failed.ended + planned)) < 1.0
        observed = retried.started - failed.ended
        assert planned - 0.05 <= observed <= planned + 1.0, (number, observed)


async def test_a_job_that_always_fails_ends_failed_after_exactly_max_retries(harness_factory: HarnessFactory) -> None:
    harness = await harness_factory()
    await harness.start_scheduler()
    pool = await harness.start_workers()
    task_id = await harness.add_task("alice", behaviour("fail", code="storage_timeout", message="Storage timed out."))
    task = await harness.wait_status(task_id, TaskStatus.FAILED, timeout=15)
    assert (task.retry_count, task.attempts) == (3, 4)
    assert len(pool.started(task_id)) == 4
    assert task.error is not None and task.error.code == "storage_timeout"
    assert task.error_message == "Storage timed out. Gave up after 3 retries."
    assert task.next_retry_at is None and task.completed_at is not None


async def test_the_retry_budget_is_the_schedulers_setting_written_on_the_task_at_dispatch(
    harness_factory: HarnessFactory,
) -> None:
    harness = await harness_factory(max_retries=1)
    await harness.start_scheduler()
    pool = await harness.start_workers()
    task_id = await harness.add_task("alice", behaviour("fail", code="storage_timeout", message="Storage timed out."))
    task = await harness.wait_status(task_id, TaskStatus.FAILED, timeout=15)
    assert (task.max_retries, task.retry_count, task.attempts) == (1, 1, 2)
    assert len(pool.started(task_id)) == 2
    assert task.error_message == "Storage timed out. Gave up after 1 retry."


async def test_a_non_retryable_failure_fails_at_once(harness_factory: HarnessFactory) -> None:
    harness = await harness_factory()
    await harness.start_scheduler()
    pool = await harness.start_workers()
    task_id = await harness.add_task(
        "alice", behaviour("fail", retryable=False, code="invalid_input", message="The file is not a video")
    )
    task = await harness.wait_status(task_id, TaskStatus.FAILED)
    assert (task.retry_count, task.attempts) == (0, 1)
    assert task.error is not None and (task.error.code, task.error.retryable) == ("invalid_input", False)
    assert task.error_message == "The file is not a video"
    assert len(pool.started(task_id)) == 1


async def test_a_person_retries_a_failed_task_and_it_runs_again_with_a_fresh_budget(
    harness_factory: HarnessFactory,
) -> None:
    harness = await harness_factory()
    await harness.start_scheduler()
    pool = await harness.start_workers()
    task_id = await harness.add_task("alice", behaviour("fail", times=1, retryable=False))
    failed = await harness.wait_status(task_id, TaskStatus.FAILED)
    await harness.retry(task_id, "mallory")  # not the owner: nothing happens
    await harness.retry(task_id, "alice")
    done = await harness.wait_status(task_id, TaskStatus.COMPLETED)
    assert (done.attempts, done.retry_count, done.error_message) == (2, 0, None)
    assert done.submitted_at is not None and failed.submitted_at is not None
    assert done.submitted_at - failed.submitted_at > timedelta(0)
    assert [r.attempt for r in pool.started(task_id)] == [1, 2]
