"""A job's life through the worker events: progress, success, failure and the retry schedule, and
events that come late or twice."""

from __future__ import annotations

from datetime import timedelta

from mediacraft.shared.messages import RetryDue, TaskProgressed
from mediacraft.shared.tasks import TaskStatus
from mediacraft.shared.topology import RETRY, SCHEDULER_INBOX, TARGET_HEADER
from tests.unit.scheduler.rig import RigFactory, SchedulerRig

QUEUED, PROCESSING, RETRYING = TaskStatus.QUEUED, TaskStatus.PROCESSING, TaskStatus.RETRYING
COMPLETED, FAILED = TaskStatus.COMPLETED, TaskStatus.FAILED
CRASH = "The encoder crashed."


async def test_a_job_that_succeeds_completes_its_task_with_the_result(rig: SchedulerRig) -> None:
    task_id = await rig.submit("alice")
    await rig.started(task_id)
    await rig.clock.advance(30)

    await rig.succeed(task_id)

    task = await rig.task(task_id)
    assert (task.status, task.progress, task.message, task.error) == (COMPLETED, 100.0, None, None)
    assert task.result is not None and task.result.key == f"results/{task_id}/1/out.mp4"
    assert task.completed_at == rig.clock.now()
    assert rig.changes(task_id) == [(QUEUED, PROCESSING), (PROCESSING, COMPLETED)]


async def test_progress_moves_forward_only_and_is_written_at_most_once_per_throttle(rig: SchedulerRig) -> None:
    task_id = await rig.submit("alice")
    await rig.started(task_id)

    await rig.progress(task_id, 20)
    await rig.progress(task_id, 30)  # within the throttle: kept in memory for now
    assert (await rig.task(task_id)).progress == 20
    assert rig.progress_events(task_id) == [20]

    await rig.progress(task_id, 10)  # a late report never moves progress back
    await rig.clock.advance(rig.settings.progress_throttle_seconds)
    await rig.tick()  # the tick writes what the throttle held back

    task = await rig.task(task_id)
    assert (task.progress, task.stage) == (30, "encode")
    assert rig.progress_events(task_id) == [20, 30]

    await rig.progress(task_id, 40, stage="upload")  # a new stage is written at once
    task = await rig.task(task_id)
    assert (task.progress, task.stage) == (40, "upload")
    assert [(s.name, s.status, s.progress) for s in task.subtasks] == [
        ("encode", "completed", 100.0),
        ("upload", "running", 40.0),
    ]


async def test_a_retryable_failure_waits_out_each_configured_delay_then_gives_up_with_a_clear_message(
    rig: SchedulerRig,
) -> None:
    task_id = await rig.submit("alice")
    budget = rig.settings.effective_max_retries
    assert budget == len(rig.settings.retry_delays_ms) == 3

    for number, delay_ms in enumerate(rig.settings.retry_delays_ms, start=1):
        await rig.fail(task_id, attempt=number)

        task = await rig.task(task_id)
        assert task.status == RETRYING
        assert task.retry_count == number
        assert task.next_retry_at == rig.clock.now() + timedelta(milliseconds=delay_ms)
        assert task.message == f"Retry {number} of {budget} is scheduled: {CRASH}"
        assert task.error is not None and task.error.retryable
        [*_, due] = [p for p in rig.bus.published if isinstance(p.message, RetryDue)]
        assert (due.exchange, due.routing_key, due.headers) == (RETRY, str(delay_ms), {TARGET_HEADER: SCHEDULER_INBOX})

        assert await rig.retry_comes_due(task_id) == RetryDue(task_id=task_id, attempt=number)
        assert rig.changes(task_id)[-2:] == [(RETRYING, QUEUED), (QUEUED, PROCESSING)]
        assert rig.jobs()[-1] == (task_id, number + 1)

    await rig.fail(task_id, attempt=budget + 1)

    task = await rig.task(task_id)
    assert (task.status, task.retry_count, task.next_retry_at) == (FAILED, budget, None)
    assert task.message == task.error_message == "The encoder crashed. Gave up after 3 retries."
    assert task.completed_at == rig.clock.now()
    assert len(rig.sent(RetryDue)) == budget


async def test_a_smaller_retry_budget_gives_up_sooner(make_rig: RigFactory) -> None:
    rig = await make_rig(max_retries=1)
    task_id = await rig.submit("alice")

    await rig.fail(task_id, attempt=1)
    assert (await rig.task(task_id)).message == f"Retry 1 of 1 is scheduled: {CRASH}"
    await rig.retry_comes_due(task_id)
    await rig.fail(task_id, attempt=2)

    task = await rig.task(task_id)
    assert (task.status, task.retry_count) == (FAILED, 1)
    assert task.message == "The encoder crashed. Gave up after 1 retry."


async def test_a_failure_that_cannot_pass_fails_at_once(rig: SchedulerRig) -> None:
    task_id = await rig.submit("alice")

    await rig.fail(task_id, retryable=False, message="The file is not a video.")

    task = await rig.task(task_id)
    assert (task.status, task.retry_count, task.next_retry_at) == (FAILED, 0, None)
    assert task.message == task.error_message == "The file is not a video."
    assert task.error is not None and task.error.code == "encoder_crashed" and not task.error.retryable
    assert rig.sent(RetryDue) == []


async def test_a_task_whose_retry_is_due_queues_again_in_its_submissions_place(rig: SchedulerRig) -> None:
    first = await rig.submit("alice")
    await rig.fail(first)
    second = await rig.submit("alice")  # takes the slot the failure freed
    third = await rig.submit("alice")

    await rig.retry_comes_due(first)

    task = await rig.task(first)
    assert (task.status, task.next_retry_at, task.message, task.retry_count) == (QUEUED, None, None, 1)

    await rig.succeed(second)  # the retried task was submitted first, so it goes before the third

    assert rig.jobs() == [(first, 1), (second, 1), (first, 2)]
    assert await rig.status(third) == QUEUED


async def test_a_job_its_worker_handed_back_is_dispatched_again_at_once_without_a_retry(rig: SchedulerRig) -> None:
    task_id = await rig.submit("alice")

    await rig.worker_cancelled(task_id)

    task = await rig.task(task_id)
    assert (task.status, task.attempts, task.retry_count, task.lost_redispatches) == (PROCESSING, 2, 0, 1)
    assert rig.jobs() == [(task_id, 1), (task_id, 2)]


async def test_events_of_an_earlier_attempt_change_nothing(rig: SchedulerRig) -> None:
    task_id = await rig.submit("alice")
    await rig.fail(task_id, attempt=1)
    await rig.retry_comes_due(task_id)
    before = await rig.task(task_id)
    assert (before.status, before.attempts) == (PROCESSING, 2)

    await rig.progress(task_id, 90, attempt=1)
    await rig.succeed(task_id, attempt=1)
    await rig.fail(task_id, attempt=1, retryable=False)

    after = await rig.task(task_id)
    assert (after.status, after.attempts, after.progress, after.version) == (PROCESSING, 2, 0.0, before.version)
    assert rig.progress_events(task_id) == []


async def test_a_failure_delivered_twice_counts_one_retry(rig: SchedulerRig) -> None:
    task_id = await rig.submit("alice")
    failure = await rig.fail(task_id)

    await rig.deliver(failure)

    task = await rig.task(task_id)
    assert (task.status, task.retry_count) == (RETRYING, 1)
    assert len(rig.sent(RetryDue)) == 1


async def test_a_person_retries_a_failed_task_with_a_fresh_budget(rig: SchedulerRig) -> None:
    task_id = await rig.submit("alice")
    await rig.fail(task_id, attempt=1)
    await rig.retry_comes_due(task_id)
    await rig.fail(task_id, attempt=2, retryable=False)
    assert await rig.status(task_id) == FAILED

    await rig.retry(task_id)

    task = await rig.task(task_id)
    assert (task.status, task.attempts, task.retry_count, task.error, task.message) == (PROCESSING, 3, 0, None, None)
    assert rig.changes(task_id)[-2:] == [(FAILED, QUEUED), (QUEUED, PROCESSING)]
    assert rig.jobs()[-1] == (task_id, 3)


async def test_a_completed_task_cannot_be_retried(rig: SchedulerRig) -> None:
    task_id = await rig.submit("alice")
    await rig.succeed(task_id)
    done = await rig.task(task_id)

    await rig.retry(task_id)

    assert await rig.task(task_id) == done
    assert rig.jobs() == [(task_id, 1)]


async def test_a_progress_message_reaches_the_task_and_its_live_event(rig: SchedulerRig) -> None:
    task_id = await rig.submit("alice")
    await rig.started(task_id)

    await rig.progress(task_id, 20, message="writing scene 1 of 6")
    assert (await rig.task(task_id)).message == "writing scene 1 of 6"

    await rig.progress(task_id, 40)  # a report without words keeps the last ones
    await rig.clock.advance(rig.settings.progress_throttle_seconds)
    await rig.progress(task_id, 50, message="writing scene 3 of 6")
    task = await rig.task(task_id)
    assert (task.progress, task.message) == (50, "writing scene 3 of 6")
    [*_, last] = [p.message for p in rig.bus.published if isinstance(p.message, TaskProgressed)]
    assert (last.progress, last.message) == (50, "writing scene 3 of 6")


async def test_a_backends_retry_after_makes_the_retry_wait_the_first_step_that_long(rig: SchedulerRig) -> None:
    task_id = await rig.submit("alice")
    steps = rig.settings.retry_delays_ms
    assert len(steps) > 1 and steps[0] < steps[1]
    await rig.fail(task_id, retry_after_seconds=(steps[0] + 1) / 1000)  # a little longer than the first step

    task = await rig.task(task_id)
    assert (task.status, task.retry_count) == (RETRYING, 1)
    assert task.next_retry_at == rig.clock.now() + timedelta(milliseconds=steps[1])
    [*_, due] = [p for p in rig.bus.published if isinstance(p.message, RetryDue)]
    assert due.routing_key == str(steps[1])  # a delay queue that exists
