"""Cleanup integration fixtures: SeaweedFS (a real S3 server), the store on SQLite and on the
MongoDB adapter (tests.fixtures.mongo), the in-process bus with a live view's queue on task.#.

The clock is a FakeClock started at the real time: the S3 server stamps objects with real times,
so a test moves the clock forward to make files old, and tasks are created in the past of it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from mediacraft.cleanup.service import CleanupService
from mediacraft.cleanup.settings import Settings
from mediacraft.shared.adapters.factory import make_bus, make_object_store, make_store
from mediacraft.shared.clock import Clock, FakeClock, SystemClock, utcnow
from mediacraft.shared.messages import TaskStatusChanged
from mediacraft.shared.topology import EVENTS
from tests.integration.cleanup.world import World

StoreFactory = Callable[[Clock], Any]


def cleanup_settings(**overrides: Any) -> Settings:
    """Settings with the product defaults, a 6 h orphan grace, and no metrics port."""
    values: dict[str, Any] = {
        "orphan_grace": timedelta(hours=6),
        "cleanup_metrics_port": 0,
        "backup_interval": timedelta(0),  # tests/integration/cleanup/test_backup.py turns it on
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(utcnow())


@pytest.fixture(params=["sqlite", "mongo"])
def store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> StoreFactory:
    """Makes stores over one database: call it twice for two replicas on the same store."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'mediacraft.db'}"
        return lambda clock: make_store(url, clock=clock)
    target = request.getfixturevalue("mongo_target")
    return lambda clock: make_store(target.url, clock=clock, **target.store_kwargs())


@pytest.fixture
async def store(store_factory: StoreFactory, clock: FakeClock) -> AsyncIterator[Any]:
    store = store_factory(clock)
    await store.start()
    yield store
    await store.close()


@pytest.fixture
async def objects(s3_url: str) -> AsyncIterator[Any]:
    objects = make_object_store(s3_url)
    await objects.start()
    yield objects
    await objects.close()


@pytest.fixture
async def bus() -> AsyncIterator[Any]:
    bus = make_bus("memory://", clock=SystemClock())
    await bus.start()
    yield bus
    await bus.close()


class LiveView:
    """A gateway replica's queue on task.#: what live clients would be told."""

    def __init__(self, bus: Any, queue: str) -> None:
        self.bus, self.queue = bus, queue

    async def events(self) -> list[TaskStatusChanged]:
        """Every status change published so far (the memory bus routes at publish time)."""
        taken = []
        while (raw := await self.bus.get(self.queue)) is not None:
            message = raw.envelope().open()
            assert isinstance(message, TaskStatusChanged)
            taken.append(message)
        return taken


@pytest.fixture
async def live_view(bus: Any) -> LiveView:
    return LiveView(bus, await bus.declare_private_queue([(EVENTS, "task.#")]))


@pytest.fixture
def world(store: Any, objects: Any, clock: FakeClock) -> World:
    return World(store, objects, clock)


@pytest.fixture
def make_service(store: Any, objects: Any, bus: Any, clock: FakeClock) -> Callable[..., CleanupService]:
    """A cleanup replica; pass another `store` (same database) for a second one."""

    def factory(*, holder: str = "replica-a", **overrides: Any) -> CleanupService:
        parts = {"store": store, "objects": objects, "bus": bus}
        parts.update({name: overrides.pop(name) for name in list(overrides) if name in parts})
        return CleanupService(settings=cleanup_settings(**overrides), clock=clock, holder=holder, **parts)

    return factory
