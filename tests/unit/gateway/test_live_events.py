"""Live events: ids, resume points, staleness per stream, wire format, bus message conversion."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from mediacraft.gateway.events import LiveEvent, Subscriber, parse_last_event_id, to_live_event
from mediacraft.shared.messages import Envelope, ProbeMessage, TaskProgressed, TaskStatusChanged
from mediacraft.shared.ports.bus import Incoming
from mediacraft.shared.tasks import InputFile, Task, TaskStatus, TaskType

AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def incoming(message: object) -> Incoming:
    env = Envelope.wrap(message, occurred_at=AT)  # type: ignore[arg-type]
    return Incoming(envelope=env, queue="q", exchange="mediacraft.events", routing_key=env.type)


def test_last_event_ids_are_epoch_milliseconds() -> None:
    assert parse_last_event_id(str(int(AT.timestamp() * 1000))) == AT
    for junk in (None, "", "abc", "-5", "1" * 40, '{"$ne": null}'):
        assert parse_last_event_id(junk) is None


def test_status_events_carry_the_public_task_view_without_storage_keys() -> None:
    task = Task(
        task_id="t1",
        user_id="u1",
        task_type=TaskType.VIDEO_MERGE,
        status=TaskStatus.QUEUED,
        version=3,
        created_at=AT,
        fingerprint="secret",
        inputs=[InputFile(key="uploads/u1/t1/k", original_name="a", size=1)],
    )
    msg = TaskStatusChanged(
        task_id="t1",
        user_id="u1",
        status=TaskStatus.QUEUED,
        previous_status=TaskStatus.UPLOADED,
        version=3,
        task=task.to_doc(),
    )
    user_id, event = to_live_event(incoming(msg))  # type: ignore[misc]
    assert user_id == "u1" and event.name == "status" and event.id == int(AT.timestamp() * 1000)
    wire = event.encode(event.id).decode()
    assert "uploads/u1" not in wire and "secret" not in wire
    data = json.loads(wire.split("data: ", 1)[1])
    assert data["task"]["inputs"][0]["original_name"] == "a" and data["previous_status"] == "uploaded"


def test_progress_events_and_other_messages() -> None:
    msg = TaskProgressed(task_id="t1", user_id="u1", progress=42.0, stage="process", version=4)
    _, event = to_live_event(incoming(msg))  # type: ignore[misc]
    assert event.name == "progress" and event.data["progress"] == 42.0
    assert to_live_event(incoming(ProbeMessage(n=1))) is None


def test_a_stream_skips_events_older_than_what_it_sent() -> None:
    sub = Subscriber("u", queue=None)  # type: ignore[arg-type]
    newer = LiveEvent(1, "status", "t", 5, {})
    older = LiveEvent(2, "status", "t", 4, {})
    same = LiveEvent(3, "progress", "t", 5, {})
    assert not sub.is_stale(newer)
    assert sub.is_stale(older)
    assert not sub.is_stale(same)


def test_the_sse_frame_format() -> None:
    frame = LiveEvent(7, "progress", "t", 1, {"a": "é"}).encode(9).decode()
    assert frame == 'id: 9\nevent: progress\ndata: {"a":"é"}\n\n'


def test_a_full_stream_is_marked_overflowed_and_a_closed_one_wakes() -> None:
    import asyncio

    sub = Subscriber("u", asyncio.Queue(2))
    for n in range(3):
        sub.offer(LiveEvent(n, "progress", "t", 1, {}))
    assert sub.overflowed and sub.queue.qsize() == 2
    sub.close()
    assert sub.closed
