"""Cancel and retry while the broker does not answer: the gateway answers within its publish timeout
(202, the request recorded on the task, a notice saying it is delayed), and the real scheduler on
the same store carries the request out once it can. A store that cannot be written answers 503
with Retry-After and changes nothing. The bus is the in-memory one behind a fault switch (the
broker lies outside the services)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from mediacraft.gateway import controls
from mediacraft.gateway.app import build_context
from mediacraft.gateway.context import GatewayContext
from mediacraft.gateway.envelope import ApiError
from mediacraft.gateway.identity_client import InProcessIdentityClient
from mediacraft.identity.service import IdentityService
from mediacraft.scheduler.service import SchedulerService
from mediacraft.scheduler.settings import Settings
from mediacraft.shared.adapters.bus.memory import MemoryBus
from mediacraft.shared.adapters.objects.local import LocalObjectStore
from mediacraft.shared.adapters.store.sqlite import SqliteStore
from mediacraft.shared.messages import CancelTask, Envelope
from mediacraft.shared.ports.bus import Handler
from mediacraft.shared.tasks import ControlKind, Task, TaskStatus, TaskType
from mediacraft.shared.topology import SCHEDULER_INBOX, build_topology
from tests.integration.gateway.harness import SchedulerInbox, ShiftClock, gateway_settings

PUBLISH_TIMEOUT = 0.5


class SwitchedBus:
    """The in-memory bus whose publishes hang (a broker that does not confirm) while `down` is set."""

    def __init__(self, inner: MemoryBus) -> None:
        self.inner = inner
        self.topology = inner.topology
        self.down = False
        self.given_timeouts: list[float | None] = []

    async def start(self) -> None:
        await self.inner.start()

    async def close(self) -> None:
        await self.inner.close()

    async def publish(self, exchange: str, routing_key: str, envelope: Envelope, **kwargs: Any) -> None:
        timeout = kwargs.get("timeout")
        self.given_timeouts.append(timeout)
        if self.down:
            await asyncio.sleep(30 if timeout is None else timeout)  # the broker never confirms
            raise ConnectionError("not confirmed")
        await self.inner.publish(exchange, routing_key, envelope, **kwargs)

    async def consume(self, queue: str, handler: Handler, *, prefetch: int = 1) -> Any:
        return await self.inner.consume(queue, handler, prefetch=prefetch)

    async def declare_private_queue(self, bindings: Any) -> str:
        return await self.inner.declare_private_queue(bindings)

    async def ping(self) -> bool:
        return not self.down


class Rig:
    def __init__(self, ctx: GatewayContext, bus: SwitchedBus, store: SqliteStore, clock: ShiftClock) -> None:
        self.ctx, self.bus, self.store, self.clock = ctx, bus, store, clock
        self.inbox = SchedulerInbox()

    async def task_in(self, status: TaskStatus, **fields: Any) -> Task:
        now = self.clock.now()
        return await self.store.insert(
            Task(
                task_id=f"t-{status.value}",
                user_id="alice",
                task_type=TaskType.IMAGE_GENERATION,
                status=status,
                created_at=now,
                submitted_at=now,
                config={"prompt": "a lighthouse"},
                **fields,
            )
        )


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    clock = ShiftClock()
    store = SqliteStore(tmp_path / "tasks.db", clock=clock, synchronous="OFF")
    objects = LocalObjectStore(tmp_path / "objects", fsync=False)
    bus = SwitchedBus(MemoryBus(topology=build_topology((1000,)), clock=clock))
    for adapter in (store, objects, bus):
        await adapter.start()
    identity = IdentityService(users=store, tasks=store, bus=bus, clock=clock)
    ctx = build_context(
        gateway_settings(tmp_path, publish_timeout_seconds=PUBLISH_TIMEOUT),
        store=store,
        objects=objects,
        bus=bus,
        identity=InProcessIdentityClient(identity),
        clock=clock,
    )
    made = Rig(ctx, bus, store, clock)
    subscription = await bus.consume(SCHEDULER_INBOX, made.inbox.handle, prefetch=100)
    yield made
    await subscription.cancel()
    for adapter in (bus, objects, store):
        await adapter.close()


async def timed(call: Any) -> tuple[Any, float]:
    loop = asyncio.get_running_loop()
    started = loop.time()
    result = await call
    return result, loop.time() - started


async def test_a_cancel_and_a_retry_during_an_outage_are_answered_within_the_bound_and_recorded(rig: Rig) -> None:
    queued = await rig.task_in(TaskStatus.QUEUED)
    failed = await rig.task_in(TaskStatus.FAILED, attempts=1)
    rig.bus.down = True

    cancel, cancel_took = await timed(controls.cancel(rig.ctx, "alice", queued.task_id))
    retry, retry_took = await timed(controls.retry(rig.ctx, "alice", failed.task_id))

    assert cancel_took < PUBLISH_TIMEOUT + 1 and retry_took < PUBLISH_TIMEOUT + 1
    assert rig.bus.given_timeouts == [PUBLISH_TIMEOUT, PUBLISH_TIMEOUT]
    assert cancel.notice and "cancel is recorded" in cancel.notice
    assert retry.notice and "retry is recorded" in retry.notice
    stored_cancel, stored_retry = await rig.store.get(queued.task_id), await rig.store.get(failed.task_id)
    assert stored_cancel and stored_cancel.control and stored_cancel.control.kind is ControlKind.CANCEL
    assert stored_retry and stored_retry.control and stored_retry.control.kind is ControlKind.RETRY
    assert (stored_cancel.status, stored_retry.status) == (
        TaskStatus.QUEUED,
        TaskStatus.FAILED,
    )  # not the gateway's to write
    assert rig.inbox.messages == []

    # the broker is back; the scheduler's reconcile carries out what never arrived
    rig.bus.down = False
    settings = Settings(
        environment="test", tick_seconds=3600, reconcile_seconds=3600, queue_position_refresh_seconds=3600
    )
    scheduler = SchedulerService(settings=settings, bus=rig.bus, store=rig.store, clock=rig.clock)
    await scheduler.start()
    try:
        rig.clock.shift(10)
        assert await scheduler.carry_out_lost_controls() == 2
        await scheduler.publisher.flush()
    finally:
        await scheduler.stop()
    cancelled, requeued = await rig.store.get(queued.task_id), await rig.store.get(failed.task_id)
    assert cancelled and (cancelled.status, cancelled.control) == (TaskStatus.CANCELLED, None)
    assert requeued and requeued.control is None and requeued.status in (TaskStatus.QUEUED, TaskStatus.PROCESSING)
    assert requeued.retry_count == 0 and requeued.error is None


async def test_with_the_broker_up_the_answer_has_no_notice_and_the_command_is_sent(rig: Rig) -> None:
    queued = await rig.task_in(TaskStatus.QUEUED)
    answer = await controls.cancel(rig.ctx, "alice", queued.task_id)
    assert answer.notice is None and answer.task.control is not None
    assert rig.inbox.types() == [CancelTask.TYPE]


async def test_a_store_that_cannot_be_written_answers_503_and_changes_nothing(rig: Rig) -> None:
    queued = await rig.task_in(TaskStatus.QUEUED)
    broken = rig.store.request_control

    async def failing(*args: Any, **kwargs: Any) -> Any:
        raise OSError("disk I/O error")

    rig.store.request_control = failing  # type: ignore[method-assign]
    try:
        with pytest.raises(ApiError) as refused:
            await controls.cancel(rig.ctx, "alice", queued.task_id)
    finally:
        rig.store.request_control = broken  # type: ignore[method-assign]
    assert refused.value.status == 503 and refused.value.code == "unavailable"
    assert refused.value.headers.get("Retry-After")
    assert await rig.store.get(queued.task_id) == queued
    assert rig.inbox.messages == []
