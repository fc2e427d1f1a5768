"""Which objects no task uses: references, folders of tasks that may still write, grace."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from mediacraft.cleanup.orphans import TaskIndex, orphan_reason
from mediacraft.cleanup.reasons import Reason
from mediacraft.shared.clock import FakeClock
from mediacraft.shared.ports.objects import ObjectInfo
from mediacraft.shared.tasks import InputFile, ResultFile, ResultOutput, Task, TaskStatus, TaskType

GRACE = timedelta(hours=6)


def make(
    task_id: str,
    status: TaskStatus,
    *,
    user: str = "alice",
    inputs: tuple[str, ...] = (),
    result: str | None = None,
    **fields: Any,
) -> Task:
    return Task(
        task_id=task_id, user_id=user, task_type=TaskType.VIDEO_MERGE, status=status,
        created_at=datetime(2025, 1, 1, tzinfo=FakeClock().now().tzinfo),
        inputs=[InputFile(key=k, original_name="a.mp4", size=1) for k in inputs],
        result=ResultFile(key=result, size=1) if result else None, **fields,
    )  # fmt: skip


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def old(clock: FakeClock, key: str) -> ObjectInfo:
    return ObjectInfo(key=key, size=10, modified=clock.now() - GRACE - timedelta(seconds=1))


def classify(clock: FakeClock, index: TaskIndex, key: str) -> Reason | None:
    return orphan_reason(old(clock, key), index, now=clock.now(), grace=GRACE)


def test_files_a_finished_task_lists_stay_and_the_rest_of_its_folders_go(clock: FakeClock) -> None:
    index = TaskIndex()
    index.add(make("t1", TaskStatus.COMPLETED, inputs=("uploads/alice/t1/in",), result="results/t1/2/out.mp4"))
    assert classify(clock, index, "uploads/alice/t1/in") is None
    assert classify(clock, index, "results/t1/2/out.mp4") is None
    # the first attempt's output, left when it failed half-way: no task uses it
    assert classify(clock, index, "results/t1/1/out.mp4") is Reason.ORPHAN_UNREFERENCED
    assert classify(clock, index, "uploads/alice/t1/replaced") is Reason.ORPHAN_UNREFERENCED


def test_a_key_of_a_task_nobody_has_is_an_orphan(clock: FakeClock) -> None:
    index = TaskIndex()
    assert classify(clock, index, "uploads/alice/gone/in") is Reason.ORPHAN_NO_TASK
    assert classify(clock, index, "results/gone/1/out.mp4") is Reason.ORPHAN_NO_TASK
    assert classify(clock, index, "uploads/stray-file") is Reason.ORPHAN_BAD_KEY


@pytest.mark.parametrize(
    "status",
    [TaskStatus.CREATED, TaskStatus.UPLOADED, TaskStatus.QUEUED, TaskStatus.PROCESSING,
     TaskStatus.RETRYING, TaskStatus.CANCELLING],
)  # fmt: skip
def test_everything_under_a_task_that_may_still_write_stays(clock: FakeClock, status: TaskStatus) -> None:
    index = TaskIndex()
    index.add(make("t1", status))  # lists nothing yet: the upload or the result is on its way
    assert classify(clock, index, "uploads/alice/t1/arriving") is None
    assert classify(clock, index, "results/t1/3/out.mp4") is None


def test_a_task_handled_in_the_same_pass_keeps_its_folders_for_that_step(clock: FakeClock) -> None:
    index = TaskIndex()
    index.add(make("t1", TaskStatus.COMPLETED, hidden=True, result="results/t1/1/out.mp4"), handled=True)
    assert classify(clock, index, "results/t1/1/out.mp4") is None
    assert not index.references("results/t1/1/out.mp4")


def test_files_left_under_an_expired_task_are_orphans(clock: FakeClock) -> None:
    index = TaskIndex()
    index.add(
        make(
            "t1",
            TaskStatus.EXPIRED,
            inputs=("uploads/alice/t1/in",),
            result="results/t1/1/out.mp4",
            submitted_at=clock.now(),
        )
    )
    assert classify(clock, index, "uploads/alice/t1/in") is Reason.ORPHAN_TASK_EXPIRED
    assert classify(clock, index, "results/t1/1/out.mp4") is Reason.ORPHAN_TASK_EXPIRED


def test_an_upload_under_another_users_folder_is_not_the_tasks(clock: FakeClock) -> None:
    index = TaskIndex()
    index.add(make("t1", TaskStatus.PROCESSING, user="alice"))
    assert classify(clock, index, "uploads/mallory/t1/x") is Reason.ORPHAN_UNREFERENCED
    assert index.owner("t1") == "alice" and index.users() == {"alice"}


def test_a_key_any_live_task_lists_stays_wherever_it_is(clock: FakeClock) -> None:
    index = TaskIndex()
    index.add(make("t1", TaskStatus.FAILED, inputs=("uploads/legacy-name.mp4",)))
    assert classify(clock, index, "uploads/legacy-name.mp4") is None


def test_nothing_is_an_orphan_inside_the_grace_period(clock: FakeClock) -> None:
    index = TaskIndex()
    young = ObjectInfo(key="uploads/alice/unknown/in", size=1, modified=clock.now() - GRACE + timedelta(seconds=1))
    assert orphan_reason(young, index, now=clock.now(), grace=GRACE) is None
    undated = ObjectInfo(key="uploads/alice/unknown/in", size=1, modified=None)
    assert orphan_reason(undated, index, now=clock.now(), grace=GRACE) is None
    at_grace = ObjectInfo(key="uploads/alice/unknown/in", size=1, modified=clock.now() - GRACE)
    assert orphan_reason(at_grace, index, now=clock.now(), grace=GRACE) is Reason.ORPHAN_NO_TASK


def test_every_output_of_a_live_result_stays_and_goes_with_its_task(clock: FakeClock) -> None:
    """A reprocess's rendition is its result; its poster and storyboard are the result's other outputs."""
    result = ResultFile(
        key="results/r1/1/rendition.mp4",
        size=1,
        outputs=[
            ResultOutput(role="poster", key="results/r1/1/poster.jpg", size=1, filename="poster.jpg"),
            ResultOutput(role="storyboard", key="results/r1/1/storyboard.jpg", size=1, filename="storyboard.jpg"),
        ],
    )
    # its input is the video's file, in its source task's folder (a result of task t0)
    reprocess = make("r1", TaskStatus.COMPLETED, inputs=("results/t0/1/clean.mp4",))
    index = TaskIndex()
    index.add(reprocess.model_copy(update={"result": result}))
    index.add(make("t0", TaskStatus.COMPLETED, result="results/t0/1/clean.mp4"))
    for key in ("results/r1/1/rendition.mp4", "results/r1/1/poster.jpg", "results/r1/1/storyboard.jpg"):
        assert classify(clock, index, key) is None, key
    assert classify(clock, index, "results/t0/1/clean.mp4") is None
    assert classify(clock, index, "results/r1/1/left-over.jpg") is Reason.ORPHAN_UNREFERENCED
    gone = TaskIndex()
    gone.add(reprocess.model_copy(update={"result": result, "status": TaskStatus.EXPIRED}))
    assert classify(clock, gone, "results/r1/1/poster.jpg") is Reason.ORPHAN_TASK_EXPIRED
