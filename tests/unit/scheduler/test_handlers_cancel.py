"""Cancelling in each state: waiting tasks end at once, running ones end when their worker confirms
(or their lease lapses), and ended ones stay as they are."""

from __future__ import annotations

from mediacraft.shared.messages import RetryDue, SubmitTask
from mediacraft.shared.tasks import TaskStatus, TaskType
from tests.unit.scheduler.rig import SchedulerRig

QUEUED, PROCESSING, CANCELLING = TaskStatus.QUEUED, TaskStatus.PROCESSING, TaskStatus.CANCELLING
RETRYING, CANCELLED = TaskStatus.RETRYING, TaskStatus.CANCELLED
COMPLETED, FAILED = TaskStatus.COMPLETED, TaskStatus.FAILED


async def test_a_queued_task_is_cancelled_at_once_and_never_starts(rig: SchedulerRig) -> None:
    running = await rig.submit("alice")
    waiting = await rig.submit("alice")

    await rig.cancel(waiting)

    task = await rig.task(waiting)
    assert (task.status, task.message, task.queue_position) == (CANCELLED, "Cancelled", None)
    assert task.completed_at == rig.clock.now()
    assert rig.changes(waiting) == [(QUEUED, CANCELLED)]
    assert rig.stop_signals() == []  # no worker has it

    await rig.succeed(running)

    assert rig.jobs() == [(running, 1)]


async def test_a_task_cancelled_before_the_scheduler_heard_of_it_never_starts(rig: SchedulerRig) -> None:
    task_id = await rig.add_task("alice")
    task = await rig.task(task_id)

    await rig.cancel(task_id)
    await rig.send(
        SubmitTask(
            task_id=task_id,
            user_id="alice",
            task_type=TaskType.VIDEO_MERGE,
            version=task.version,
            submitted_at=task.submitted_at,
        )
    )  # arrives late

    assert await rig.status(task_id) == CANCELLED
    assert rig.jobs() == []


async def test_a_retrying_task_is_cancelled_at_once_and_its_retry_never_runs(rig: SchedulerRig) -> None:
    task_id = await rig.submit("alice")
    await rig.fail(task_id)

    await rig.cancel(task_id)

    task = await rig.task(task_id)
    assert (task.status, task.next_retry_at, task.message) == (CANCELLED, None, "Cancelled")
    assert rig.changes(task_id)[-1] == (RETRYING, CANCELLED)

    await rig.retry_comes_due(task_id)
    await rig.clock.advance(3 * rig.settings.tick_seconds)  # long past the point a lost RetryDue is repaired
    await rig.tick()

    assert await rig.status(task_id) == CANCELLED
    assert rig.jobs() == [(task_id, 1)]


async def test_a_running_task_is_cancelling_until_its_worker_confirms_then_frees_its_slot(
    rig: SchedulerRig,
) -> None:
    running = await rig.submit("alice")
    waiting = await rig.submit("alice")
    await rig.started(running)

    await rig.cancel(running)

    task = await rig.task(running)
    assert (task.status, task.message) == (CANCELLING, "Cancelling")
    assert rig.stop_signals() == [(running, 1)]
    assert await rig.status(waiting) == QUEUED  # the slot is held until the worker lets go

    await rig.worker_cancelled(running)

    task = await rig.task(running)
    assert (task.status, task.message, task.lease_expires_at) == (CANCELLED, "Cancelled", None)
    assert rig.changes(running) == [(QUEUED, PROCESSING), (PROCESSING, CANCELLING), (CANCELLING, CANCELLED)]
    assert rig.jobs() == [(running, 1), (waiting, 1)]


async def test_a_job_that_finishes_while_cancelling_ends_cancelled_without_its_result(rig: SchedulerRig) -> None:
    succeeded = await rig.submit("alice")
    failed = await rig.submit("bob")
    for task_id in (succeeded, failed):
        await rig.cancel(task_id)

    await rig.succeed(succeeded)
    await rig.fail(failed)

    for task_id in (succeeded, failed):
        task = await rig.task(task_id)
        assert (task.status, task.result, task.retry_count) == (CANCELLED, None, 0)


async def test_a_cancel_asked_again_repeats_the_stop_signal_but_a_redelivered_one_does_not(
    rig: SchedulerRig,
) -> None:
    task_id = await rig.submit("alice")
    first = await rig.cancel(task_id)

    await rig.deliver(first)  # the broker delivers the same message again
    assert rig.stop_signals() == [(task_id, 1)]

    await rig.cancel(task_id)  # the person presses cancel again
    assert rig.stop_signals() == [(task_id, 1), (task_id, 1)]
    assert await rig.status(task_id) == CANCELLING


async def test_a_cancel_its_worker_never_confirms_ends_when_the_lease_lapses(rig: SchedulerRig) -> None:
    task_id = await rig.submit("alice")
    await rig.started(task_id)
    await rig.cancel(task_id)

    await rig.clock.advance(rig.settings.lease_seconds - 1)
    await rig.tick()
    assert await rig.status(task_id) == CANCELLING

    await rig.clock.advance(1)
    await rig.tick()

    task = await rig.task(task_id)
    assert (task.status, task.retry_count) == (CANCELLED, 0)
    assert rig.sent(RetryDue) == []


async def test_an_ended_task_stays_as_it_ended(rig: SchedulerRig) -> None:
    completed = await rig.submit("alice")
    await rig.succeed(completed)
    failed = await rig.submit("alice")
    await rig.fail(failed, retryable=False)
    cancelled = await rig.submit("alice")
    await rig.cancel(cancelled)
    await rig.worker_cancelled(cancelled)
    ended = {t: await rig.task(t) for t in (completed, failed, cancelled)}
    published = len(rig.bus.published)

    for task_id in ended:
        await rig.cancel(task_id)

    assert {t: await rig.task(t) for t in ended} == ended
    assert [t.status for t in ended.values()] == [COMPLETED, FAILED, CANCELLED]
    assert len(rig.bus.published) == published  # no stop signal, no event


async def test_a_cancel_from_someone_else_is_ignored(rig: SchedulerRig) -> None:
    running = await rig.submit("alice")
    waiting = await rig.submit("alice")

    for task_id in (running, waiting):
        await rig.cancel(task_id, user_id="mallory")

    assert [await rig.status(t) for t in (running, waiting)] == [PROCESSING, QUEUED]
    assert rig.stop_signals() == []


async def test_a_cancelled_task_a_person_retries_runs_again(rig: SchedulerRig) -> None:
    task_id = await rig.submit("alice")
    await rig.cancel(task_id)
    await rig.worker_cancelled(task_id)
    await rig.clock.advance(10)

    await rig.retry(task_id)

    task = await rig.task(task_id)
    assert (task.status, task.attempts, task.message) == (PROCESSING, 2, None)
    assert task.submitted_at == rig.clock.now()  # its place in line is that of a new submission
    assert rig.jobs() == [(task_id, 1), (task_id, 2)]
