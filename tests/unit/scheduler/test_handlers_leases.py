"""Leases on the fake clock: news from the worker keeps an attempt alive; silence, a job no worker
takes, or a run past the limit abandons it, tells its worker to stop, and retries the task."""

from __future__ import annotations

from mediacraft.shared.tasks import TaskStatus
from tests.unit.scheduler.rig import RigFactory, SchedulerRig

QUEUED, PROCESSING, RETRYING = TaskStatus.QUEUED, TaskStatus.PROCESSING, TaskStatus.RETRYING


async def test_a_worker_gone_silent_costs_no_retry_and_the_task_is_dispatched_again_at_once(
    rig: SchedulerRig,
) -> None:
    task_id = await rig.submit("alice")
    waiting = await rig.submit("alice")
    await rig.started(task_id)

    await rig.clock.advance(rig.settings.lease_seconds - 1)
    await rig.tick()
    assert await rig.status(task_id) == PROCESSING

    await rig.clock.advance(1)
    await rig.tick()

    task = await rig.task(task_id)
    # no retry delay and no retry used: the next attempt is out at once, ahead of the user's later task
    assert (task.status, task.attempts, task.retry_count, task.lost_redispatches) == (PROCESSING, 2, 0, 1)
    assert rig.stop_signals() == [(task_id, 1)]  # in case the worker is only cut off, not gone
    assert rig.jobs() == [(task_id, 1), (task_id, 2)]
    assert await rig.status(waiting) == TaskStatus.QUEUED  # the per-user quota still holds


async def test_a_task_whose_workers_keep_getting_lost_fails_with_a_plain_message(rig: SchedulerRig) -> None:
    task_id = await rig.submit("alice")
    for attempt in range(1, 5):
        await rig.started(task_id, attempt=attempt)
        await rig.clock.advance(rig.settings.lease_seconds)
        await rig.tick()

    task = await rig.task(task_id)
    assert (task.status, task.attempts, task.retry_count) == (TaskStatus.FAILED, 4, 0)
    assert task.error is not None and task.error.code == "worker_lost" and not task.error.retryable
    assert task.error_message == "The workers running this task kept stopping before it finished."
    assert rig.jobs() == [(task_id, n) for n in range(1, 5)]


async def test_heartbeats_and_progress_keep_an_attempt_alive(rig: SchedulerRig) -> None:
    task_id = await rig.submit("alice")
    await rig.started(task_id)
    lease = rig.settings.lease_seconds

    for news in (rig.heartbeat, rig.heartbeat, lambda t: rig.progress(t, 50)):
        await rig.clock.advance(lease * 2 / 3)
        await news(task_id)
        await rig.tick()
        assert await rig.status(task_id) == PROCESSING

    await rig.clock.advance(lease)
    await rig.tick()

    task = await rig.task(task_id)  # lost with its worker: dispatched again at once
    assert (task.status, task.attempts, task.lost_redispatches) == (PROCESSING, 2, 1)


async def test_a_job_no_worker_takes_is_retried_after_the_start_timeout(rig: SchedulerRig) -> None:
    task_id = await rig.submit("alice")

    # waiting for a free worker longer than a lease is not taken for a lost worker
    await rig.clock.advance(rig.settings.start_timeout_seconds - 1)
    await rig.tick()
    assert await rig.status(task_id) == PROCESSING

    await rig.clock.advance(1)
    await rig.tick()

    task = await rig.task(task_id)
    assert task.status == RETRYING
    assert task.error is not None and task.error.code == "worker_not_started"
    assert task.message == "Retry 1 of 3 is scheduled: No worker took the task within 10 minutes."


async def test_an_attempt_that_runs_past_the_limit_is_abandoned_however_alive_its_worker(
    make_rig: RigFactory,
) -> None:
    rig = await make_rig(max_run_seconds=120.0)
    task_id = await rig.submit("alice")
    await rig.started(task_id)

    for _ in range(3):
        await rig.clock.advance(30)
        await rig.heartbeat(task_id)
        await rig.tick()
    assert await rig.status(task_id) == PROCESSING

    await rig.clock.advance(30)
    await rig.tick()

    task = await rig.task(task_id)
    assert task.status == RETRYING
    assert task.error is not None and task.error.code == "timed_out"
    assert task.message == "Retry 1 of 3 is scheduled: The task ran longer than the limit of 2 minutes."


async def test_an_attempt_that_runs_past_the_limit_again_fails_the_task_with_a_plain_message(
    make_rig: RigFactory,
) -> None:
    rig = await make_rig(max_run_seconds=120.0)
    task_id = await rig.submit("alice")
    for attempt in (1, 2):
        await rig.started(task_id, attempt=attempt)
        for _ in range(4):
            await rig.clock.advance(30)
            await rig.heartbeat(task_id, attempt=attempt)
            await rig.tick()
        if attempt == 1:
            assert await rig.status(task_id) == RETRYING
            await rig.retry_comes_due(task_id)
            await rig.tick()
            assert await rig.status(task_id) == PROCESSING

    task = await rig.task(task_id)
    assert task.status == TaskStatus.FAILED
    assert (task.attempts, task.retry_count) == (2, 1)
    assert task.error is not None and task.error.code == "timed_out" and not task.error.retryable
    assert task.error_message == "The task ran longer than the limit of 2 minutes twice in a row, so it was stopped."


async def test_news_from_an_abandoned_attempt_changes_nothing_and_the_next_attempt_runs(rig: SchedulerRig) -> None:
    task_id = await rig.submit("alice")
    await rig.started(task_id)
    await rig.clock.advance(rig.settings.lease_seconds)
    await rig.tick()
    abandoned = await rig.task(task_id)

    await rig.heartbeat(task_id)
    await rig.succeed(task_id)  # the worker was only slow: too late, the attempt is over

    assert await rig.task(task_id) == abandoned
    assert (abandoned.status, abandoned.attempts) == (PROCESSING, 2)
    assert rig.jobs() == [(task_id, 1), (task_id, 2)]
