"""Watermark detection jobs: their own global cap, outside the users' task quotas, answers written on
the draft (only the current request's), and each answer announced to live views."""

from __future__ import annotations

from mediacraft.shared.messages import (
    DetectionFinished,
    DetectWatermarks,
    RunDetection,
    RunJob,
    TaskStatusChanged,
)
from mediacraft.shared.tasks import DetectedBox, InputFile, Task, TaskDetection, TaskStatus, TaskType
from tests.unit.scheduler.rig import RigFactory, SchedulerRig


async def draft(rig: SchedulerRig, user_id: str, request_id: str) -> str:
    """An uploaded watermark draft whose detection is pending under `request_id`, as the gateway leaves it."""
    task_id = f"d-{request_id}"
    await rig.store.insert(
        Task(
            task_id=task_id,
            user_id=user_id,
            task_type=TaskType.WATERMARK_REMOVAL,
            status=TaskStatus.UPLOADED,
            created_at=rig.clock.now(),
            inputs=[InputFile(key=f"uploads/{user_id}/{task_id}/in.mp4", original_name="in.mp4", size=10)],
            detection=TaskDetection(state="pending", request_id=request_id, requested_at=rig.clock.now()),
        )
    )
    return task_id


async def ask(rig: SchedulerRig, task_id: str, user_id: str, request_id: str) -> None:
    await rig.send(DetectWatermarks(task_id=task_id, user_id=user_id, request_id=request_id))


def found(task_id: str, request_id: str) -> DetectionFinished:
    answer = TaskDetection(
        state="done",
        regions=[DetectedBox(box=(1, 2, 30, 40), confidence=0.8)],
        message="Found 1 watermark",
        request_id=request_id,
    )
    return DetectionFinished(task_id=task_id, request_id=request_id, detection=answer)


async def test_detections_run_under_their_own_cap_outside_the_task_quotas(make_rig: RigFactory) -> None:
    rig = await make_rig(detection_concurrency=2, quota_per_user=1)
    running = await rig.submit("alice")  # alice's one task slot is taken
    assert rig.jobs() == [(running, 1)]
    tasks = [await draft(rig, "alice", f"r{n}") for n in range(3)]
    for n, task_id in enumerate(tasks):
        await ask(rig, task_id, "alice", f"r{n}")

    jobs = rig.sent(RunDetection)
    assert [(j.task_id, j.request_id) for j in jobs] == [(tasks[0], "r0"), (tasks[1], "r1")]  # the cap: 2
    assert jobs[0].inputs[0].key.endswith("/in.mp4")
    to_pool = {p.routing_key for p in rig.bus.published if p.envelope.type == RunDetection.TYPE}
    assert to_pool == {"watermark"}
    assert len(rig.sent(RunJob)) == 1  # detection took no task slot, and no task slot was freed

    await rig.send(found(tasks[0], "r0"))
    assert [j.request_id for j in rig.sent(RunDetection)] == ["r0", "r1", "r2"]  # a slot freed: the third runs
    task = await rig.task(tasks[0])
    assert task.status is TaskStatus.UPLOADED and task.detection is not None
    assert task.detection.state == "done" and task.detection.regions[0].box == (1, 2, 30, 40)
    assert task.detection.finished_at == rig.clock.now() and task.detection.requested_at is not None
    [event] = [e for e in rig.sent(TaskStatusChanged) if e.task_id == tasks[0]]
    assert event.task["detection"]["state"] == "done"


async def test_an_answer_to_an_older_request_or_a_submitted_task_changes_nothing(rig: SchedulerRig) -> None:
    task_id = await draft(rig, "bob", "old")
    await ask(rig, task_id, "bob", "old")
    # bob asked again: the gateway wrote a new pending request
    await rig.store.set_detection(task_id, TaskDetection(state="pending", request_id="new"))
    await rig.send(found(task_id, "old"))
    assert (await rig.task(task_id)).detection == TaskDetection(state="pending", request_id="new")
    assert rig.sent(TaskStatusChanged) == []


async def test_a_request_for_a_task_no_longer_a_draft_or_of_another_user_is_not_run(rig: SchedulerRig) -> None:
    mine = await draft(rig, "carol", "c1")
    await ask(rig, mine, "mallory", "c1")
    queued = await rig.add_task("carol", task_type=TaskType.WATERMARK_REMOVAL)
    await ask(rig, queued, "carol", "c2")
    assert rig.sent(RunDetection) == []


async def test_a_detection_never_answered_frees_its_slot_and_says_so(make_rig: RigFactory) -> None:
    rig = await make_rig(detection_concurrency=1, detection_timeout_seconds=30.0)
    first, second = await draft(rig, "dan", "a"), await draft(rig, "erin", "b")
    await ask(rig, first, "dan", "a")
    await ask(rig, second, "erin", "b")
    assert [j.request_id for j in rig.sent(RunDetection)] == ["a"]

    rig.scheduler.state.detections.running["a"].started -= 31  # the worker went away 31 s ago
    await rig.tick()
    assert [j.request_id for j in rig.sent(RunDetection)] == ["a", "b"]
    lost = (await rig.task(first)).detection
    assert lost is not None and lost.state == "failed" and "too long" in lost.message
