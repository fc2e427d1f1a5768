"""Durable controls: a cancel or retry recorded on the task whose command never arrived is carried
out by the reconcile, and a task whose cancel was recorded never completes."""

from __future__ import annotations

from mediacraft.shared.messages import ReconcileTasks
from mediacraft.shared.tasks import ControlKind, RequestedControl, TaskStatus
from tests.unit.scheduler.rig import SchedulerRig

QUEUED, PROCESSING, CANCELLING = TaskStatus.QUEUED, TaskStatus.PROCESSING, TaskStatus.CANCELLING
CANCELLED, COMPLETED, FAILED = TaskStatus.CANCELLED, TaskStatus.COMPLETED, TaskStatus.FAILED


async def record(rig: SchedulerRig, task_id: str, kind: ControlKind) -> None:
    """What the gateway does before it publishes the command (which is then lost)."""
    task = await rig.task(task_id)
    assert await rig.store.request_control(
        task_id, task.user_id, RequestedControl(kind=kind, requested_at=rig.clock.now())
    )


async def test_a_lost_cancel_of_a_running_task_is_carried_out_by_the_reconcile(rig: SchedulerRig) -> None:
    task_id = await rig.submit("alice")
    await rig.started(task_id)
    await record(rig, task_id, ControlKind.CANCEL)

    assert await rig.scheduler.carry_out_lost_controls() == 0  # its command may still be on the way
    await rig.clock.advance(10)
    assert await rig.scheduler.carry_out_lost_controls() == 1
    await rig.scheduler.publisher.flush()

    task = await rig.task(task_id)
    assert (task.status, task.control) == (CANCELLING, None)
    assert rig.stop_signals() == [(task_id, 1)]
    await rig.worker_cancelled(task_id)
    assert await rig.status(task_id) == CANCELLED
    assert await rig.scheduler.carry_out_lost_controls() == 0


async def test_a_task_whose_cancel_was_recorded_never_completes(rig: SchedulerRig) -> None:
    task_id = await rig.submit("alice")
    await rig.started(task_id)
    await record(rig, task_id, ControlKind.CANCEL)  # the command is lost; the job finishes first

    await rig.succeed(task_id)

    task = await rig.task(task_id)
    assert (task.status, task.result, task.control) == (CANCELLED, None, None)
    assert [new for _, new in rig.changes(task_id)][-2:] == [CANCELLING, CANCELLED]


async def test_a_queued_task_whose_cancel_was_lost_never_starts(rig: SchedulerRig) -> None:
    running = await rig.submit("alice")
    waiting = await rig.submit("alice")
    await record(rig, waiting, ControlKind.CANCEL)

    await rig.succeed(running)  # frees the slot: the dispatch finds the recorded cancel

    task = await rig.task(waiting)
    assert (task.status, task.control) == (CANCELLED, None)
    assert rig.jobs() == [(running, 1)]


async def test_a_lost_retry_is_carried_out_by_a_requested_reconcile(rig: SchedulerRig) -> None:
    task_id = await rig.submit("alice")
    await rig.fail(task_id, retryable=False)
    assert await rig.status(task_id) == FAILED
    await record(rig, task_id, ControlKind.RETRY)
    await rig.clock.advance(10)

    await rig.send(ReconcileTasks(reason="requested"))

    task = await rig.task(task_id)
    assert (task.status, task.attempts, task.control) == (PROCESSING, 2, None)
    assert rig.jobs() == [(task_id, 1), (task_id, 2)]
    await rig.retry(task_id)  # the command arrives late after all: nothing more happens
    assert rig.jobs() == [(task_id, 1), (task_id, 2)]


async def test_the_cancel_command_clears_the_recorded_request(rig: SchedulerRig) -> None:
    task_id = await rig.submit("alice")
    await rig.started(task_id)
    await record(rig, task_id, ControlKind.CANCEL)
    await rig.cancel(task_id)
    assert (await rig.task(task_id)).control is None


# After a takeover (a restart, or the broker back after an outage) memory is rebuilt from the store,
# so it holds the version written with the recorded cancel: no compare-and-set conflicts any more,
# and memory itself must know that a cancel is pending.


async def test_after_a_takeover_a_queued_task_whose_cancel_was_lost_never_starts(rig: SchedulerRig) -> None:
    running = await rig.submit("alice")
    waiting = await rig.submit("alice")
    await rig.started(running)
    await record(rig, waiting, ControlKind.CANCEL)
    await rig.stop_scheduler()
    await rig.start_scheduler()  # takes over: rebuilds memory from the store on its first delivery

    await rig.succeed(running)  # frees the slot before the reconcile carries the cancel out

    task = await rig.task(waiting)
    assert (task.status, task.control) == (CANCELLED, None)
    assert rig.jobs() == [(running, 1)]


async def test_after_a_takeover_a_running_task_whose_cancel_was_lost_never_completes(rig: SchedulerRig) -> None:
    task_id = await rig.submit("alice")
    await rig.started(task_id)
    await record(rig, task_id, ControlKind.CANCEL)
    await rig.stop_scheduler()
    await rig.start_scheduler()

    await rig.succeed(task_id)  # the job finishes before the reconcile carries the cancel out

    task = await rig.task(task_id)
    assert (task.status, task.result, task.control) == (CANCELLED, None, None)
    assert [new for _, new in rig.changes(task_id)][-2:] == [CANCELLING, CANCELLED]


async def test_a_requested_reconcile_does_not_let_a_lost_cancel_be_dispatched(rig: SchedulerRig) -> None:
    running = await rig.submit("alice")
    waiting = await rig.submit("alice")
    await rig.started(running)
    await record(rig, waiting, ControlKind.CANCEL)
    # a reconcile within the request's grace refreshes memory's versions but leaves the request to
    # its command (which is lost)
    await rig.send(ReconcileTasks(reason="requested"))
    assert await rig.status(waiting) == QUEUED

    await rig.succeed(running)

    assert (await rig.task(waiting)).status == CANCELLED
    assert rig.jobs() == [(running, 1)]


async def test_a_takeover_carries_out_a_lost_cancel_at_once(rig: SchedulerRig) -> None:
    task_id = await rig.submit("alice")
    await rig.started(task_id)
    await record(rig, task_id, ControlKind.CANCEL)
    await rig.stop_scheduler()
    await rig.clock.advance(10)  # the broker was away longer than a command's grace
    await rig.start_scheduler()

    await rig.heartbeat(task_id)  # the first delivery after the gap: a takeover, no reconcile tick

    task = await rig.task(task_id)
    assert (task.status, task.control) == (CANCELLING, None)
    assert rig.stop_signals() == [(task_id, 1)]


async def test_a_takeover_leaves_a_fresh_request_to_its_command(rig: SchedulerRig) -> None:
    task_id = await rig.submit("alice")
    await rig.started(task_id)
    await record(rig, task_id, ControlKind.CANCEL)
    await rig.stop_scheduler()
    await rig.start_scheduler()

    await rig.heartbeat(task_id)

    task = await rig.task(task_id)
    assert (task.status, task.control is not None) == (PROCESSING, True)
    assert rig.stop_signals() == []


async def test_a_cancelling_attempts_worker_that_still_reports_is_told_again_to_stop(rig: SchedulerRig) -> None:
    task_id = await rig.submit("alice")
    await rig.started(task_id)
    await rig.cancel(task_id)  # its stop signal is sent while the worker is away, and lost
    assert rig.stop_signals() == [(task_id, 1)]

    await rig.heartbeat(task_id)  # within a few seconds: the signal may still be on its way
    assert rig.stop_signals() == [(task_id, 1)]
    await rig.clock.advance(6)
    await rig.heartbeat(task_id)  # the worker is back and still working: tell it again
    await rig.progress(task_id, 50)  # ... but not on every piece of news
    assert rig.stop_signals() == [(task_id, 1), (task_id, 1)]
    await rig.clock.advance(6)
    await rig.progress(task_id, 60)
    assert rig.stop_signals() == [(task_id, 1), (task_id, 1), (task_id, 1)]

    await rig.worker_cancelled(task_id)
    assert await rig.status(task_id) == CANCELLED


async def test_a_running_attempt_that_nobody_cancelled_gets_no_stop_signal(rig: SchedulerRig) -> None:
    task_id = await rig.submit("alice")
    await rig.started(task_id)
    for _ in range(3):
        await rig.clock.advance(6)
        await rig.heartbeat(task_id)
    assert rig.stop_signals() == []
