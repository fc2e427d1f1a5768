"""The gateway's application layer without HTTP: plain values in, tasks out, on the embedded
adapters (SQLite, the in-memory bus, a local directory). The routes only parse and call these."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mediacraft.gateway import controls
from mediacraft.gateway.app import build_context
from mediacraft.gateway.body_stream import BodyStream
from mediacraft.gateway.context import GatewayContext
from mediacraft.gateway.create import create_draft
from mediacraft.gateway.envelope import ApiError
from mediacraft.gateway.frame_preview import preview_frame
from mediacraft.gateway.identity_client import InProcessIdentityClient
from mediacraft.gateway.one_call import submit_in_one_call
from mediacraft.gateway.ownership import owned_task
from mediacraft.gateway.preview import FrameRequest
from mediacraft.gateway.readiness import readiness_checks
from mediacraft.gateway.results import stored_result
from mediacraft.gateway.submission import submit
from mediacraft.gateway.upload_flow import upload_files
from mediacraft.identity.service import IdentityService
from mediacraft.shared.adapters.bus.memory import MemoryBus
from mediacraft.shared.adapters.objects.local import LocalObjectStore
from mediacraft.shared.adapters.store.sqlite import SqliteStore
from mediacraft.shared.tasks import TaskStatus, TaskType
from mediacraft.shared.topology import SCHEDULER_INBOX, build_topology
from tests.fixtures.waiting import eventually
from tests.integration.gateway.harness import SchedulerInbox, ShiftClock, gateway_settings

REGIONS = {"regions": [[500, 20, 120, 60]], "method": "delogo"}
BOUNDARY = "mediacraft-test-boundary"


@dataclass
class App:
    """The gateway's context over started adapters, and what reached the scheduler's inbox."""

    ctx: GatewayContext
    inbox: SchedulerInbox
    user_id: str

    async def objects_under(self, prefix: str = "") -> list[str]:
        return [o.key async for o in self.ctx.objects.list(prefix)]


@asynccontextmanager
async def application(tmp_path: Path) -> AsyncIterator[App]:
    """The gateway's context on embedded adapters, with no HTTP server."""
    clock = ShiftClock()
    store = SqliteStore(tmp_path / "db" / "mediacraft.db", clock=clock, synchronous="NORMAL")
    objects = LocalObjectStore(tmp_path / "objects", fsync=False)
    bus = MemoryBus(topology=build_topology((1000,)), clock=clock)
    for adapter in (store, objects, bus):
        await adapter.start()
    inbox = SchedulerInbox()
    subscription = await bus.consume(SCHEDULER_INBOX, inbox.handle, prefetch=100)
    identity = IdentityService(users=store, tasks=store, bus=bus, clock=clock)
    ctx = build_context(
        gateway_settings(tmp_path),
        store=store,
        objects=objects,
        bus=bus,
        identity=InProcessIdentityClient(identity),
        clock=clock,
    )
    ctx.cache.start()
    try:
        yield App(ctx, inbox, (await identity.mint()).user_id)
    finally:
        await subscription.cancel()
        for adapter in (bus, objects, store):
            await adapter.close()


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[App]:
    async with application(tmp_path) as a:
        yield a


def multipart(fields: dict[str, str], files: list[tuple[str, bytes]], chunk: int = 64 * 1024) -> BodyStream:
    """A multipart/form-data body (fields first, then `file` parts) delivered in chunks."""
    raw = bytearray()
    for name, value in fields.items():
        raw += f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
    for filename, content in files:
        raw += (
            (
                f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
                f"Content-Type: video/mp4\r\n\r\n"
            ).encode()
            + content
            + b"\r\n"
        )
    raw += f"--{BOUNDARY}--\r\n".encode()
    return BodyStream(_chunks(bytes(raw), chunk), f"multipart/form-data; boundary={BOUNDARY}", len(raw))


async def _chunks(raw: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(raw), size):
        yield raw[start : start + size]


async def api_error(call: Any) -> str:
    """The error code an application call raises."""
    with pytest.raises(ApiError) as raised:
        await call
    return raised.value.code


async def test_a_repeated_idempotency_key_answers_the_first_draft(app: App) -> None:
    first, replayed = await create_draft(app.ctx, app.user_id, TaskType.VIDEO_MERGE, idempotency=("k1", "hash-a"))
    assert first.status is TaskStatus.CREATED and replayed is False
    again, replayed = await create_draft(app.ctx, app.user_id, TaskType.VIDEO_MERGE, idempotency=("k1", "hash-a"))
    assert again.task_id == first.task_id and replayed is True
    reused = create_draft(app.ctx, app.user_id, TaskType.VIDEO_MERGE, idempotency=("k1", "hash-b"))
    assert await api_error(reused) == "idempotency_key_reused"


async def test_another_users_task_is_not_found(app: App) -> None:
    task, _ = await create_draft(app.ctx, app.user_id, TaskType.IMAGE_GENERATION)
    assert (await owned_task(app.ctx, task.task_id, app.user_id)).task_id == task.task_id
    assert await api_error(owned_task(app.ctx, task.task_id, "someone-else")) == "not_found"


async def test_an_upload_streams_into_the_store_and_the_config_queues_the_task(app: App, clip: Path) -> None:
    task, _ = await create_draft(app.ctx, app.user_id, TaskType.WATERMARK_REMOVAL)
    uploaded = await upload_files(app.ctx, app.user_id, task.task_id, multipart({}, [("clip.mp4", clip.read_bytes())]))
    assert uploaded.status is TaskStatus.UPLOADED and uploaded.original_filename == "clip.mp4"
    assert uploaded.inputs[0].size == clip.stat().st_size and uploaded.inputs[0].media is not None
    assert uploaded.inputs[0].media.width == 640
    assert await app.objects_under(f"uploads/{app.user_id}/{task.task_id}/") == [uploaded.inputs[0].key]

    queued, duplicate = await submit(app.ctx, app.user_id, task.task_id, REGIONS)
    assert queued.status is TaskStatus.QUEUED and duplicate is False and queued.config["method"] == "delogo"
    await eventually(lambda: "task.submit" in app.inbox.types(), timeout=5, what="SubmitTask")
    assert app.inbox.messages[-1].correlation_id == task.task_id
    again, duplicate = await submit(app.ctx, app.user_id, task.task_id, REGIONS)
    assert again.task_id == task.task_id and duplicate is True


async def test_an_upload_to_a_task_without_files_is_refused_before_reading_the_body(app: App) -> None:
    task, _ = await create_draft(app.ctx, app.user_id, TaskType.IMAGE_GENERATION)
    read: list[bytes] = []

    async def body() -> AsyncIterator[bytes]:
        read.append(b"x")
        yield b"never read"

    refused = upload_files(app.ctx, app.user_id, task.task_id, BodyStream(body(), "multipart/form-data", 10))
    assert await api_error(refused) == "upload_not_allowed"
    assert read == [] and await app.objects_under() == []


async def test_one_call_submits_a_multipart_form(app: App, clip: Path) -> None:
    body = multipart({"task_type": "watermark_removal", "config": json.dumps(REGIONS)}, [("a.mp4", clip.read_bytes())])
    task, outcome = await submit_in_one_call(app.ctx, app.user_id, body, idempotency_key="once")
    assert outcome == "queued" and task.status is TaskStatus.QUEUED and task.original_filename == "a.mp4"
    replay = multipart({"task_type": "watermark_removal", "config": json.dumps(REGIONS)}, [])
    again, outcome = await submit_in_one_call(app.ctx, app.user_id, replay, idempotency_key="once")
    assert outcome == "replayed" and again.task_id == task.task_id


async def test_a_failed_one_call_submit_leaves_nothing_behind(app: App, clip: Path) -> None:
    body = multipart({"task_type": "watermark_removal", "config": '{"regions": []}'}, [("a.mp4", clip.read_bytes())])
    assert await api_error(submit_in_one_call(app.ctx, app.user_id, body)) == "invalid_config"
    assert (await app.ctx.store.list_for_user(app.user_id)).items == []
    assert await app.objects_under() == []


async def test_a_generation_task_is_submitted_from_a_json_body(app: App) -> None:
    doc = {"task_type": "image_generation", "config": {"prompt": "a lighthouse at dusk"}}
    body = BodyStream(_chunks(json.dumps(doc).encode(), 8), "application/json", None)
    task, outcome = await submit_in_one_call(app.ctx, app.user_id, body)
    assert outcome == "queued" and task.task_type is TaskType.IMAGE_GENERATION and task.inputs == []


async def test_cancelling_a_draft_removes_its_uploads(app: App, clip: Path) -> None:
    task, _ = await create_draft(app.ctx, app.user_id, TaskType.WATERMARK_REMOVAL)
    await upload_files(app.ctx, app.user_id, task.task_id, multipart({}, [("clip.mp4", clip.read_bytes())]))
    cancelled = (await controls.cancel(app.ctx, app.user_id, task.task_id)).task
    assert cancelled.status is TaskStatus.CANCELLED and await app.objects_under() == []


async def test_a_frame_of_an_upload_is_previewed_and_a_result_is_sent_only_once_completed(app: App, clip: Path) -> None:
    task, _ = await create_draft(app.ctx, app.user_id, TaskType.WATERMARK_REMOVAL)
    await upload_files(app.ctx, app.user_id, task.task_id, multipart({}, [("clip.mp4", clip.read_bytes())]))
    shot = await preview_frame(app.ctx, app.user_id, task.task_id, input_index=0, want=FrameRequest(frame=30))
    assert shot.jpeg[:3] == b"\xff\xd8\xff" and (shot.seconds, shot.width, shot.height) == (1.0, 640, 360)
    missing = preview_frame(app.ctx, app.user_id, task.task_id, input_index=1, want=FrameRequest())
    assert await api_error(missing) == "not_found"
    assert await api_error(stored_result(app.ctx, app.user_id, task.task_id)) == "not_ready"


async def test_readiness_names_every_dependency(app: App) -> None:
    checks = await readiness_checks(app.ctx)  # the live feed starts with the app's lifespan, not run here
    assert checks == {"store": True, "objects": True, "bus": True, "identity": True, "events": False}
