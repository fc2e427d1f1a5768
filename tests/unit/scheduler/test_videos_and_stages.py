"""What the scheduler makes of a success: the video of a video result, and the stages as they ended."""

from __future__ import annotations

from mediacraft.shared.messages import JobProgress, JobSucceeded
from mediacraft.shared.tasks import ResultFile, SubTask, SubTaskStatus, TaskStatus, TaskType
from mediacraft.shared.videos import video_id_for
from tests.unit.scheduler.rig import SchedulerRig


async def test_a_completed_video_result_becomes_one_video_of_its_owner(rig: SchedulerRig) -> None:
    task_id = await rig.submit("alice")
    await rig.started(task_id)
    await rig.succeed(task_id)
    await rig.succeed(task_id)  # the same event again records nothing new

    [video] = await rig.store.videos_of_task(task_id)
    key = f"results/{task_id}/1/out.mp4"
    assert (video.user_id, video.key, video.source, video.video_id) == (
        "alice",
        key,
        "result",
        video_id_for(task_id, key),
    )
    assert await rig.store.list_videos("alice") == [video]


async def test_a_reprocess_result_is_not_a_video_of_its_own(rig: SchedulerRig) -> None:
    task_id = await rig.submit("alice", task_type=TaskType.VIDEO_REPROCESS)
    await rig.started(task_id)
    await rig.succeed(task_id)
    assert (await rig.task(task_id)).status is TaskStatus.COMPLETED
    assert await rig.store.videos_of_task(task_id) == []


async def test_the_stages_are_kept_as_the_worker_declared_them_and_all_end_completed(rig: SchedulerRig) -> None:
    task_id = await rig.submit("alice")
    await rig.started(task_id)
    stages = [
        SubTask(name="download", status=SubTaskStatus.COMPLETED, progress=100),
        SubTask(name="probe", status=SubTaskStatus.RUNNING, progress=50, message="reading"),
        SubTask(name="encode"),
        SubTask(name="upload"),
    ]
    await rig.send(
        JobProgress(task_id=task_id, attempt=1, percent=30, stage="probe", stage_percent=50, subtasks=stages)
    )
    assert (await rig.task(task_id)).subtasks == stages

    final = [s.model_copy(update={"status": SubTaskStatus.COMPLETED, "progress": 100.0}) for s in stages]
    final[2] = final[2].model_copy(update={"message": "done in 2 s"})
    result = ResultFile(key=f"results/{task_id}/1/out.mp4", size=10, content_type="video/mp4")
    await rig.send(JobSucceeded(task_id=task_id, attempt=1, result=result, subtasks=final))
    task = await rig.task(task_id)
    assert task.status is TaskStatus.COMPLETED and task.subtasks == final
