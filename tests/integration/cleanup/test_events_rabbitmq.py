"""On RabbitMQ, a gateway replica's queue on task.# hears a task expire."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from mediacraft.cleanup.service import CleanupService
from mediacraft.shared.adapters.factory import make_bus, make_store
from mediacraft.shared.messages import TaskStatusChanged
from mediacraft.shared.ports.bus import Incoming
from mediacraft.shared.tasks import TaskStatus
from mediacraft.shared.topology import EVENTS
from tests.integration.cleanup.conftest import StoreFactory
from tests.integration.cleanup.world import DAY, World


@pytest.fixture
def store_factory(tmp_path: Path) -> StoreFactory:
    """SQLite only: this module is about the broker."""
    url = f"sqlite:///{tmp_path / 'mediacraft.db'}"
    return lambda clock: make_store(url, clock=clock)


@pytest.fixture
async def bus(rabbit_vhost_url: str) -> AsyncIterator[Any]:
    bus = make_bus(rabbit_vhost_url)
    await bus.start()
    yield bus
    await bus.close()


async def test_a_live_view_on_rabbitmq_is_told_that_a_task_expired(
    world: World, bus: Any, make_service: Callable[..., CleanupService]
) -> None:
    task = await world.finished(TaskStatus.COMPLETED, age=8 * DAY)
    heard: list[TaskStatusChanged] = []
    got = asyncio.Event()

    async def on_event(incoming: Incoming) -> None:
        message = incoming.envelope.open()
        assert isinstance(message, TaskStatusChanged)
        heard.append(message)
        got.set()

    queue = await bus.declare_private_queue([(EVENTS, "task.#")])
    subscription = await bus.consume(queue, on_event)
    try:
        await make_service().run_once()
        await asyncio.wait_for(got.wait(), 15)
    finally:
        await subscription.cancel()
    assert [(e.task_id, e.previous_status, e.status, e.task["message"]) for e in heard] == [
        (
            task.task_id,
            TaskStatus.COMPLETED,
            TaskStatus.EXPIRED,
            "The result file has expired and was deleted: results are kept for 7 days.",
        ),
    ]
