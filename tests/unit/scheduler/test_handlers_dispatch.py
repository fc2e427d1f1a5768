"""Dispatch through the scheduler's handlers: quotas per user, per type and overall, round-robin
between users, and the queue position and message each waiting task shows."""

from __future__ import annotations

from datetime import timedelta

from mediacraft.shared.messages import RunJob, SubmitTask
from mediacraft.shared.tasks import TaskStatus, TaskType
from tests.unit.scheduler.rig import RigFactory, SchedulerRig

QUEUED, PROCESSING, COMPLETED = TaskStatus.QUEUED, TaskStatus.PROCESSING, TaskStatus.COMPLETED
# the sentences a person reads on a waiting task
USER_BUSY_MESSAGE = "Waiting for your current task to finish"
SYSTEM_BUSY_MESSAGE = "The system is busy; your task is queued"


async def test_a_submitted_task_starts_at_once_and_its_job_goes_to_its_pool(rig: SchedulerRig) -> None:
    task_id = await rig.submit("alice")

    task = await rig.task(task_id)
    assert task.status == PROCESSING
    assert task.attempts == 1
    assert task.started_at == rig.clock.now()
    # until a worker takes it, the job may wait in its pool's queue for the start timeout
    assert task.lease_expires_at == rig.clock.now() + timedelta(seconds=rig.settings.start_timeout_seconds)
    assert rig.jobs() == [(task_id, 1)]
    [job] = rig.sent(RunJob)
    assert job.deadline_seconds == rig.settings.max_run_seconds
    [to_pool] = [p.routing_key for p in rig.bus.published if p.envelope.type == RunJob.TYPE]
    assert to_pool == "merge"
    assert rig.changes(task_id) == [(QUEUED, PROCESSING)]


async def test_a_submit_delivered_twice_starts_the_task_once(rig: SchedulerRig) -> None:
    task_id = await rig.submit("alice")
    task = await rig.task(task_id)

    await rig.send(SubmitTask(task_id=task_id, user_id="alice", task_type=TaskType.VIDEO_MERGE))

    assert rig.jobs() == [(task_id, 1)]
    assert (await rig.task(task_id)).version == task.version


async def test_a_user_runs_no_more_than_their_quota_and_the_next_starts_when_one_ends(
    make_rig: RigFactory,
) -> None:
    rig = await make_rig(quota_per_user=2)
    ids = [await rig.submit("alice") for _ in range(4)]

    assert rig.jobs() == [(ids[0], 1), (ids[1], 1)]
    assert await rig.statuses_of("alice") == {
        ids[0]: PROCESSING,
        ids[1]: PROCESSING,
        ids[2]: QUEUED,
        ids[3]: QUEUED,
    }

    await rig.succeed(ids[0])

    assert await rig.status(ids[0]) == COMPLETED
    assert rig.jobs()[2:] == [(ids[2], 1)]
    assert await rig.status(ids[3]) == QUEUED


async def test_the_global_quota_holds_every_user_and_frees_a_slot_to_the_next_in_line(
    make_rig: RigFactory,
) -> None:
    rig = await make_rig(quota_per_user=3, quota_global=4)
    alice = [await rig.submit("alice") for _ in range(3)]
    bob = [await rig.submit("bob") for _ in range(3)]

    assert rig.jobs() == [(t, 1) for t in (*alice, bob[0])]
    assert [await rig.status(t) for t in bob] == [PROCESSING, QUEUED, QUEUED]

    await rig.succeed(alice[1])

    assert rig.jobs()[4:] == [(bob[1], 1)]
    assert await rig.status(bob[2]) == QUEUED


async def test_users_take_turns_and_a_newcomer_goes_before_those_already_served(make_rig: RigFactory) -> None:
    rig = await make_rig(quota_per_user=1, quota_global=1)
    a1, a2, a3 = [await rig.submit("alice") for _ in range(3)]
    b1, b2 = [await rig.submit("bob") for _ in range(2)]
    c1 = await rig.submit("carol")

    for task_id in (a1, b1, c1, a2, b2):
        await rig.succeed(task_id)

    assert [task_id for task_id, _ in rig.jobs()] == [a1, b1, c1, a2, b2, a3]
    assert await rig.status(a3) == PROCESSING


async def test_a_task_held_only_by_its_type_quota_lets_the_same_users_other_type_go_first(
    make_rig: RigFactory,
) -> None:
    rig = await make_rig(quota_per_user=5, quota_per_type={"video_merge": 1})
    merge1 = await rig.submit("alice")
    merge2 = await rig.submit("alice")
    mark = await rig.submit("alice", task_type=TaskType.WATERMARK_REMOVAL)

    assert rig.jobs() == [(merge1, 1), (mark, 1)]
    assert await rig.status(merge2) == QUEUED

    await rig.succeed(merge1)

    assert rig.jobs()[2:] == [(merge2, 1)]


async def test_waiting_tasks_show_their_place_in_line_and_why_they_wait(make_rig: RigFactory) -> None:
    rig = await make_rig(quota_per_user=1, quota_global=2)
    a1, a2, a3 = [await rig.submit("alice") for _ in range(3)]
    await rig.submit("bob")
    c1 = await rig.submit("carol")

    assert await rig.scheduler.refresh_positions() == 3

    # carol has not been served yet, so her task is next; alice's wait for her own to finish
    shown = {t: ((task := await rig.task(t)).queue_position, task.message) for t in (c1, a2, a3)}
    assert shown == {
        c1: (1, SYSTEM_BUSY_MESSAGE),
        a2: (2, USER_BUSY_MESSAGE),
        a3: (3, USER_BUSY_MESSAGE),
    }
    assert rig.changes(a3) == [(QUEUED, QUEUED)]  # live views hear of it too
    assert await rig.scheduler.refresh_positions() == 0  # nothing changed, nothing written

    await rig.succeed(a1)  # carol's task takes the free slot; alice's now wait for the system

    started = await rig.task(c1)
    assert (started.status, started.queue_position, started.message) == (PROCESSING, None, None)
    assert await rig.scheduler.refresh_positions() == 2
    shown = {t: ((task := await rig.task(t)).queue_position, task.message) for t in (a2, a3)}
    assert shown == {a2: (1, SYSTEM_BUSY_MESSAGE), a3: (2, SYSTEM_BUSY_MESSAGE)}


async def test_a_scheduler_draining_for_a_stop_starts_nothing_new_but_records_what_ends(rig: SchedulerRig) -> None:
    running = await rig.submit("alice")
    rig.scheduler.hold_dispatch()

    waiting = await rig.submit("bob")
    await rig.succeed(running)

    assert [await rig.status(t) for t in (running, waiting)] == [COMPLETED, QUEUED]
    assert rig.jobs() == [(running, 1)]
