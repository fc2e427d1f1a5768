"""Two cleanup replicas on one store never run a pass at the same time."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from mediacraft.cleanup.report import Kind, Outcome
from mediacraft.cleanup.service import CleanupService
from mediacraft.cleanup.sweep import Sweep
from mediacraft.shared.clock import FakeClock
from mediacraft.shared.tasks import TaskStatus
from tests.integration.cleanup.conftest import StoreFactory
from tests.integration.cleanup.world import DAY, HOUR, World, keys, put

ServiceFactory = Callable[..., CleanupService]


class PausedAtOrphans:
    """The object store of a replica that stops when its pass reaches the orphan scan."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.reached = asyncio.Event()
        self.go = asyncio.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def list(self, prefix: str = "") -> AsyncIterator[Any]:
        return self._list(prefix)

    async def _list(self, prefix: str) -> AsyncIterator[Any]:
        if prefix == "uploads/" and not self.go.is_set():
            self.reached.set()
            await self.go.wait()
        async for info in self.inner.list(prefix):
            yield info


@pytest.fixture
async def second_store(store_factory: StoreFactory, clock: FakeClock) -> AsyncIterator[Any]:
    """Another connection to the same database, as a second replica has."""
    other = store_factory(clock)
    await other.start()
    yield other
    await other.close()


async def test_a_replica_skips_while_another_is_in_a_pass_and_runs_after_it(
    world: World, objects: Any, second_store: Any, make_service: ServiceFactory
) -> None:
    expiring = await world.finished(TaskStatus.COMPLETED, age=8 * DAY)
    paused = PausedAtOrphans(objects)
    first = make_service(holder="replica-a", objects=paused)
    second = make_service(holder="replica-b", store=second_store)

    running = asyncio.create_task(first.run_once())
    await asyncio.wait_for(paused.reached.wait(), 30)
    skipped = await second.run_once()
    assert skipped.outcome is Outcome.SKIPPED and skipped.removals == []
    paused.go.set()
    done = await asyncio.wait_for(running, 30)
    assert done.outcome is Outcome.COMPLETED
    assert [r.task_id for r in done.of_kind(Kind.TASK_FILES)] == [expiring.task_id]
    after = await second.run_once()  # the first released the lease when it finished
    assert after.outcome is Outcome.COMPLETED and after.removals == []


async def test_concurrent_attempts_never_overlap(
    world: World, objects: Any, second_store: Any, make_service: ServiceFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    for age in (8 * DAY, 9 * DAY, 10 * DAY):
        await world.finished(TaskStatus.COMPLETED, age=age)
    await world.draft(TaskStatus.UPLOADED, age=2 * DAY)
    running = 0
    most = 0
    real_run = Sweep.run

    async def observed(self: Sweep) -> Any:
        nonlocal running, most
        running += 1
        most = max(most, running)
        try:
            return await real_run(self)
        finally:
            running -= 1

    monkeypatch.setattr(Sweep, "run", observed)
    replicas = [make_service(holder="replica-a"), make_service(holder="replica-b", store=second_store)]

    outcomes: list[Outcome] = []
    for _ in range(6):
        reports = await asyncio.gather(*(replica.run_once() for replica in replicas))
        outcomes += [report.outcome for report in reports]

    assert most == 1
    assert Outcome.SKIPPED in outcomes and outcomes.count(Outcome.COMPLETED) >= 6
    assert set(outcomes) <= {Outcome.COMPLETED, Outcome.SKIPPED}


async def test_a_crashed_replicas_lease_lapses_and_a_pass_that_lost_it_stops(
    world: World, store: Any, objects: Any, make_service: ServiceFactory, clock: FakeClock
) -> None:
    orphan = await put(objects, f"uploads/alice/{uuid.uuid4().hex}/lost")
    await clock.advance((7 * HOUR).total_seconds())
    assert await store.acquire_lease("cleanup", "crashed-replica", ttl_seconds=300)
    assert (await make_service().run_once()).outcome is Outcome.SKIPPED
    await clock.advance(301)

    paused = PausedAtOrphans(objects)
    frozen = make_service(holder="replica-a", objects=paused)
    running = asyncio.create_task(frozen.run_once())
    await asyncio.wait_for(paused.reached.wait(), 30)
    await clock.advance(301)  # frozen past its lease: another replica takes over
    assert await store.acquire_lease("cleanup", "replica-b", ttl_seconds=300)
    paused.go.set()
    report = await asyncio.wait_for(running, 30)

    assert report.outcome is Outcome.LEASE_LOST and report.of_kind(Kind.ORPHAN) == []
    assert orphan in await keys(objects)  # it stopped before deleting anything more
