"""The live-view events are built from the task a write returned, the same way in every service."""

from __future__ import annotations

from datetime import UTC, datetime

from mediacraft.shared.messages import Envelope, TaskProgressed, TaskStatusChanged
from mediacraft.shared.tasks import Task, TaskStatus, TaskType, subtasks_from_map

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)


def running() -> Task:
    return Task(
        task_id="t1",
        user_id="u1",
        task_type=TaskType.VIDEO_MERGE,
        status=TaskStatus.PROCESSING,
        version=4,
        created_at=T0,
        progress=42.0,
        stage="encode",
        subtasks=subtasks_from_map({"probe": 100.0, "encode": 20.0}),
        eta_seconds=30.0,
    )


def test_a_status_change_carries_the_task_as_written_and_where_it_came_from() -> None:
    event = TaskStatusChanged.of(running(), TaskStatus.QUEUED)
    assert (event.task_id, event.user_id, event.status, event.previous_status, event.version) == (
        "t1",
        "u1",
        TaskStatus.PROCESSING,
        TaskStatus.QUEUED,
        4,
    )
    assert Task.model_validate(event.task) == running()
    assert TaskStatusChanged.of(running(), None).previous_status is None  # a new draft


def test_a_progress_event_carries_the_progress_as_written() -> None:
    event = TaskProgressed.of(running())
    assert (event.progress, event.stage, event.subtasks, event.eta_seconds, event.version) == (
        42.0,
        "encode",
        subtasks_from_map({"probe": 100.0, "encode": 20.0}),
        30.0,
        4,
    )


def test_the_events_survive_the_envelope() -> None:
    for event in (TaskStatusChanged.of(running(), TaskStatus.QUEUED), TaskProgressed.of(running())):
        envelope = Envelope.wrap(event, correlation_id="t1")
        assert Envelope.model_validate_json(envelope.model_dump_json()).open() == event
