"""Reconcile and recovery: a task whose message was lost is found in the store and carried on, and
a scheduler that starts (or takes over) rebuilds its counters from the store."""

from __future__ import annotations

from datetime import timedelta

from mediacraft.shared.messages import ReconcileTasks
from mediacraft.shared.tasks import TaskStatus
from tests.unit.scheduler.rig import RigFactory, SchedulerRig

QUEUED, PROCESSING, RETRYING = TaskStatus.QUEUED, TaskStatus.PROCESSING, TaskStatus.RETRYING
COMPLETED = TaskStatus.COMPLETED


async def test_a_queued_task_whose_submit_was_lost_is_found_by_the_periodic_reconcile(rig: SchedulerRig) -> None:
    await rig.tick()  # the scheduler is up and has read the store
    task_id = await rig.add_task("alice")  # queued, but its SubmitTask never arrives

    await rig.tick()
    assert await rig.status(task_id) == QUEUED  # a tick alone does not read the store

    assert await rig.scheduler.adopt_lost_tasks() == 1
    await rig.scheduler.publisher.flush()

    assert await rig.status(task_id) == PROCESSING
    assert rig.jobs() == [(task_id, 1)]
    assert await rig.scheduler.adopt_lost_tasks() == 0


async def test_a_requested_reconcile_finds_a_lost_submit_too(rig: SchedulerRig) -> None:
    await rig.tick()
    task_id = await rig.add_task("alice")

    await rig.send(ReconcileTasks(reason="requested"))

    assert await rig.status(task_id) == PROCESSING
    assert rig.jobs() == [(task_id, 1)]


async def test_a_retry_whose_delayed_message_was_lost_runs_soon_after_it_was_due(rig: SchedulerRig) -> None:
    task_id = await rig.submit("alice")
    await rig.fail(task_id)
    due = (await rig.task(task_id)).next_retry_at
    assert due is not None

    await rig.clock.advance((due - rig.clock.now()).total_seconds())
    await rig.tick()
    assert await rig.status(task_id) == RETRYING  # the delayed message may still be on its way

    await rig.clock.advance(2 * rig.settings.tick_seconds)
    await rig.tick()

    task = await rig.task(task_id)
    assert (task.status, task.attempts, task.retry_count) == (PROCESSING, 2, 1)
    assert rig.jobs() == [(task_id, 1), (task_id, 2)]


async def test_a_success_that_was_lost_costs_one_lease_and_the_task_still_completes(rig: SchedulerRig) -> None:
    task_id = await rig.submit("alice")
    await rig.started(task_id)  # ... and the worker's JobSucceeded never arrives

    await rig.clock.advance(rig.settings.lease_seconds)
    await rig.tick()  # lost with its worker, as far as the scheduler can tell: dispatched again at once
    await rig.succeed(task_id, attempt=2)

    task = await rig.task(task_id)
    assert (task.status, task.attempts, task.retry_count) == (COMPLETED, 2, 0)


async def test_a_new_scheduler_rebuilds_its_counters_from_the_store(make_rig: RigFactory) -> None:
    rig = await make_rig(quota_per_user=1, quota_global=2)
    running = await rig.submit("alice")
    behind = await rig.submit("alice")
    retrying = await rig.submit("bob")
    await rig.started(running)
    await rig.fail(retrying)
    carol = await rig.submit("carol")  # the second slot, freed by bob's failure
    jobs = rig.jobs()
    assert jobs == [(running, 1), (retrying, 1), (carol, 1)]

    await rig.stop_scheduler()  # the scheduler goes away; another one starts on the same store
    await rig.start_scheduler()
    dave = await rig.add_task("dave")
    await rig.tick()  # its first delivery: it reads the store before anything else

    # alice still runs one and carol one: both quotas are full, so nothing more starts
    assert rig.jobs() == jobs
    assert [await rig.status(t) for t in (behind, dave)] == [QUEUED, QUEUED]

    await rig.succeed(running)  # the worker's event reaches the new scheduler

    # whose turn it was is not in the store: the new scheduler serves the line in submission order
    assert await rig.status(running) == COMPLETED
    assert rig.jobs()[3:] == [(behind, 1)]

    await rig.succeed(carol)
    await rig.retry_comes_due(retrying)  # the retry the old scheduler scheduled still comes due

    assert rig.jobs()[4:] == [(dave, 1)]
    assert await rig.status(retrying) == QUEUED

    await rig.succeed(behind)

    assert rig.jobs()[5:] == [(retrying, 2)]


async def test_a_running_task_found_on_start_gets_one_lease_of_grace(rig: SchedulerRig) -> None:
    task_id = await rig.submit("alice")
    await rig.started(task_id)
    await rig.progress(task_id, 10)  # written at once, with the lease it extended
    lease = (await rig.task(task_id)).lease_expires_at
    assert lease == rig.clock.now() + timedelta(seconds=rig.settings.lease_seconds)
    await rig.clock.advance(rig.settings.lease_seconds - 1)
    await rig.stop_scheduler()
    await rig.start_scheduler()

    await rig.tick()  # the stored lease is nearly over, but the new scheduler cannot know what news came
    await rig.clock.advance(rig.settings.lease_seconds - 1)
    await rig.tick()
    assert await rig.status(task_id) == PROCESSING

    await rig.clock.advance(1)
    await rig.tick()

    task = await rig.task(task_id)  # the lease lapsed: the next attempt is out at once
    assert (task.status, task.attempts) == (PROCESSING, 2)
