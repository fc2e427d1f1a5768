"""Processor-declared stages: the ordered list, its statuses and the weighted overall percent."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from mediacraft.shared.tasks import SubTask, SubTaskStatus, Task, all_completed, upsert_subtask
from mediacraft.shared.worker.progress import DEFAULT_STAGES, ProgressState, Stage, job_stages


def plain(ctx: object) -> None:
    """A processor that declares nothing."""


def staged(ctx: object) -> None:
    """A processor with three stages."""


staged.stages = (Stage("probe", 1), Stage("encode", 6), Stage("poster", 1))  # type: ignore[attr-defined]


def by_type(task_type: str | None) -> Sequence[Stage]:
    return (Stage("probe", 1), Stage("encode", 3)) if task_type == "video_reprocess" else ()


def per_type(ctx: object) -> None:
    """A processor whose stages depend on the task type."""


per_type.stages = by_type  # type: ignore[attr-defined]


def view(state: ProgressState) -> list[tuple[str, str, float]]:
    return [(s.name, s.status.value, s.progress) for s in state.subtasks]


def test_a_processor_that_declares_nothing_keeps_download_process_upload_and_their_old_split() -> None:
    assert job_stages(plain) == DEFAULT_STAGES
    state = ProgressState(stages=job_stages(plain))
    state.enter("download", 0)
    state.update(0.5)
    assert state.percent == 5.0
    state.enter("process", 1)
    state.update(0.5)
    assert state.percent == 52.5
    state.enter("upload", 2)
    state.update(1.0)
    assert state.percent == 100.0


def test_declared_stages_share_the_processing_part_by_weight_and_stay_in_order() -> None:
    stages = job_stages(staged)
    assert [s.name for s in stages] == ["download", "probe", "encode", "poster", "upload"]
    state = ProgressState(stages=stages)
    state.enter("download", 0)
    state.update(1.0)
    state.enter("probe", 1)
    state.update(1.0, "read 1 video stream")
    state.enter("encode", 2)
    state.update(0.5, "frame 50 of 100")
    assert view(state) == [
        ("download", "completed", 100.0),
        ("probe", "completed", 100.0),
        ("encode", "running", 50.0),
        ("poster", "pending", 0.0),
        ("upload", "pending", 0.0),
    ]
    assert state.subtasks[2].message == "frame 50 of 100"
    # 10 (download) + 85 * (1 + 3) / 8 (probe, half of encode)
    assert state.percent == pytest.approx(10 + 85 * 4 / 8, abs=0.1)
    state.finish()
    assert state.percent == 100.0
    assert all(s.status is SubTaskStatus.COMPLETED for s in state.subtasks)


def test_stages_may_depend_on_the_task_type() -> None:
    assert [s.name for s in job_stages(per_type, "video_reprocess")] == ["download", "probe", "encode", "upload"]
    assert job_stages(per_type, "video_merge") == DEFAULT_STAGES


@pytest.mark.parametrize(
    "declared",
    [(Stage("a"), Stage("a")), (Stage("download"),), (Stage("a", 0),)],
    ids=["repeated", "runtime name", "no weight"],
)
def test_a_bad_declaration_is_refused(declared: tuple[Stage, ...]) -> None:
    def bad(ctx: object) -> None: ...

    bad.stages = declared  # type: ignore[attr-defined]
    with pytest.raises(ValueError):
        job_stages(bad)


def test_a_task_stored_with_the_old_stage_map_reads_as_the_ordered_list() -> None:
    doc = {
        "task_id": "t",
        "user_id": "u",
        "task_type": "video_merge",
        "created_at": "2026-01-01T00:00:00Z",
        "subtasks": {"download": 100.0, "process": 40.0},
    }
    task = Task.model_validate(doc)
    assert task.subtasks == [
        SubTask(name="download", status=SubTaskStatus.COMPLETED, progress=100),
        SubTask(name="process", status=SubTaskStatus.RUNNING, progress=40),
    ]


def test_an_older_worker_naming_its_stage_only_still_builds_the_list() -> None:
    items = upsert_subtask([], "download", 50)
    items = upsert_subtask(items, "process", 10)
    items = upsert_subtask(items, "process", 5)  # never backwards
    assert [(s.name, s.status.value, s.progress) for s in items] == [
        ("download", "completed", 100.0),
        ("process", "running", 10.0),
    ]
    assert {s.status for s in all_completed(items)} == {SubTaskStatus.COMPLETED}
