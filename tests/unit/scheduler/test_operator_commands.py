"""The operator console's commands to the scheduler: quotas changed at run time (stored, applied by
the next dispatch, kept by a scheduler that takes over) and a waiting task moved to the front."""

from __future__ import annotations

from typing import Any

from mediacraft.scheduler.quotas import Quotas
from mediacraft.shared.messages import ApplyQuotas, PrioritiseTask
from mediacraft.shared.operator_records import POOLS_RECORD, QUOTAS_RECORD, PoolsSnapshot
from mediacraft.shared.tasks import TaskStatus, TaskType
from tests.unit.scheduler.rig import RigFactory, SchedulerRig

QUEUED, PROCESSING = TaskStatus.QUEUED, TaskStatus.PROCESSING


async def set_quotas(rig: SchedulerRig, **overrides: Any) -> None:
    """What the console does: write the record, then send ApplyQuotas."""
    await rig.store.put_record(QUOTAS_RECORD, overrides)
    await rig.send(ApplyQuotas())


async def test_a_raised_user_quota_starts_the_waiting_task_at_once(rig: SchedulerRig) -> None:
    first, second = await rig.submit("alice"), await rig.submit("alice")
    assert rig.jobs() == [(first, 1)]

    await set_quotas(rig, per_user=2)

    assert rig.jobs() == [(first, 1), (second, 1)]
    assert await rig.status(second) == PROCESSING


async def test_a_paused_pool_starts_nothing_until_its_quota_is_raised(rig: SchedulerRig) -> None:
    await set_quotas(rig, per_pool={"merge": 0})
    merge = await rig.submit("alice")
    image = await rig.submit("bob", task_type=TaskType.IMAGE_GENERATION)

    assert rig.jobs() == [(image, 1)]  # the other pools run as before
    assert await rig.status(merge) == QUEUED
    await rig.scheduler.refresh_positions()
    assert (await rig.task(merge)).message == "The system is busy; your task is queued"

    await set_quotas(rig, per_pool={"merge": 1})

    assert rig.jobs() == [(image, 1), (merge, 1)]


async def test_a_lowered_global_quota_holds_the_next_dispatch(rig: SchedulerRig) -> None:
    await set_quotas(rig, total=1)
    running = await rig.submit("alice")
    waiting = await rig.submit("bob")

    assert rig.jobs() == [(running, 1)]
    await rig.succeed(running)

    assert rig.jobs() == [(running, 1), (waiting, 1)]  # the slot it freed, and no more


async def test_unset_fields_keep_the_configured_quotas(make_rig: RigFactory) -> None:
    rig = await make_rig(quota_per_user=2, quota_global=4, quota_per_pool={"generate": 3})
    await set_quotas(rig, per_pool={"merge": 1})

    assert rig.scheduler.state.quotas == Quotas(per_user=2, total=4, per_pool={"generate": 3, "merge": 1})


async def test_a_scheduler_that_takes_over_applies_the_stored_quotas_before_its_first_dispatch(
    rig: SchedulerRig,
) -> None:
    await set_quotas(rig, per_pool={"merge": 0})
    await rig.stop_scheduler()
    await rig.start_scheduler()  # a standby, or the same one restarted: memory comes from the store

    held = await rig.submit("alice")

    assert rig.jobs() == []
    assert await rig.status(held) == QUEUED


async def test_a_quota_change_whose_command_was_lost_is_applied_by_the_reconcile(rig: SchedulerRig) -> None:
    first, second = await rig.submit("alice"), await rig.submit("alice")
    await rig.store.put_record(QUOTAS_RECORD, {"per_user": 2})  # ApplyQuotas never arrives

    assert await rig.scheduler.reapply_quotas() is True

    assert rig.jobs() == [(first, 1), (second, 1)]


async def test_an_unreadable_record_leaves_the_configured_quotas(rig: SchedulerRig) -> None:
    await set_quotas(rig, per_user="many")

    assert rig.scheduler.state.quotas == rig.scheduler.rules.quotas


async def test_a_prioritised_task_starts_before_every_other_waiting_one(make_rig: RigFactory) -> None:
    rig = await make_rig(quota_global=1)
    running = await rig.submit("alice")
    alices = [await rig.submit("alice") for _ in range(2)]
    bobs = await rig.submit("bob")
    assert rig.jobs() == [(running, 1)]

    await rig.send(PrioritiseTask(task_id=alices[1]))
    await rig.succeed(running)

    # alice was just served and bob never was, yet her second waiting task goes next
    assert rig.jobs() == [(running, 1), (alices[1], 1)]
    await rig.succeed(alices[1])
    assert rig.jobs()[-1] == (bobs, 1)


async def test_prioritising_a_task_that_is_not_waiting_changes_nothing(rig: SchedulerRig) -> None:
    running = await rig.submit("alice")

    await rig.send(PrioritiseTask(task_id=running))
    await rig.send(PrioritiseTask(task_id="no-such-task"))

    assert await rig.status(running) == PROCESSING
    assert rig.jobs() == [(running, 1)]


async def test_the_active_scheduler_writes_its_pool_figures(rig: SchedulerRig) -> None:
    running = await rig.submit("alice")
    await rig.submit("alice")
    await rig.started(running)  # worker "w1" of the merge pool is heard from

    assert await rig.scheduler.publish_pools() is True

    record = await rig.store.get_record(POOLS_RECORD)
    assert record is not None
    snapshot = PoolsSnapshot.model_validate(record)
    merge = next(p for p in snapshot.pools if p.pool == "merge")
    assert (merge.waiting, merge.running, merge.workers_alive, merge.workers) == (1, 1, 1, ["w1"])
    assert merge.waiting_by_reason == {"user_busy": 1}
    assert snapshot.quotas["per_user"] == 1
    assert snapshot.workers_by_task == {running: "w1"}
    assert await rig.scheduler.publish_pools() is False  # not due again yet


async def test_each_step_of_a_task_is_written_to_its_history(rig: SchedulerRig) -> None:
    task_id = await rig.submit("alice")
    await rig.started(task_id)
    await rig.fail(task_id, message="The encoder crashed.")
    await rig.retry_comes_due(task_id)
    await rig.started(task_id, attempt=2)
    await rig.succeed(task_id, attempt=2)
    await rig.started(task_id, attempt=1)  # a stale worker's news is no step of the task
    await rig.scheduler.journal.flush()

    history = await rig.store.list_history(task_id)

    assert [(e["event"], e["attempt"]) for e in history] == [
        ("dispatched", 1),
        ("started", 1),
        ("retry_scheduled", 1),
        ("retry_due", 1),
        ("dispatched", 2),
        ("started", 2),
        ("completed", 2),
    ]
    assert history[1]["worker"] == "w1"
    assert history[2]["error"] == {"code": "encoder_crashed", "message": "The encoder crashed.", "retryable": True}
    assert history[2]["next_retry_at"] is not None


async def test_a_cancel_and_a_restart_are_in_the_history(rig: SchedulerRig) -> None:
    task_id = await rig.submit("alice")
    await rig.cancel(task_id)
    await rig.worker_cancelled(task_id)
    await rig.retry(task_id)
    await rig.scheduler.journal.flush()

    events = [e["event"] for e in await rig.store.list_history(task_id)]

    assert events == ["dispatched", "cancel_requested", "cancelled", "restarted", "dispatched"]
