"""A scheduler under test: SQLite store, a bus (memory or RabbitMQ), the fake worker pool, and a
client that plays the gateway's part (insert a queued task, publish SubmitTask / CancelTask)."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mediacraft.scheduler.service import SchedulerService
from mediacraft.scheduler.settings import Settings
from mediacraft.shared.adapters.bus.memory import MemoryBroker, MemoryBus
from mediacraft.shared.adapters.bus.rabbitmq import RabbitBus
from mediacraft.shared.adapters.store.sqlite import SqliteStore
from mediacraft.shared.clock import SystemClock, utcnow
from mediacraft.shared.messages import CancelTask, Envelope, Message, RetryTask, SubmitTask
from mediacraft.shared.ports.bus import Bus
from mediacraft.shared.tasks import TERMINAL_STATUSES, InputFile, Task, TaskStatus, TaskType
from mediacraft.shared.topology import COMMANDS, SCHEDULER_KEY, Topology, build_topology
from tests.fixtures.fake_workers import FakeWorkerPool, behaviour
from tests.fixtures.waiting import eventually

# short waits so that the retry schedule and leases show within a test's time
FAST: dict[str, Any] = {
    "retry_delays_ms": (300, 600, 900),
    "lease_seconds": 2.0,
    "tick_seconds": 0.1,
    "reconcile_seconds": 1.0,
    "progress_throttle_seconds": 0.2,
    "queue_position_refresh_seconds": 0.2,
}


def fast_settings(**overrides: Any) -> Settings:
    """Scheduler settings for tests: short delays and leases, quick ticks."""
    return Settings(**{**FAST, **overrides})


@dataclass
class BusMaker:
    """Makes connected buses of one kind: all on one memory broker, or all on one RabbitMQ vhost."""

    kind: str
    topology: Topology
    url: str | None = None
    broker: MemoryBroker | None = None
    made: list[Any] = field(default_factory=list)

    async def new(self) -> Bus:
        """A started bus: a new connection of its own."""
        if self.kind == "memory":
            if self.broker is None:
                self.broker = MemoryBroker(SystemClock())
            bus: Any = MemoryBus(topology=self.topology, broker=self.broker, close_grace=1.0)
        else:
            assert self.url is not None
            bus = RabbitBus(self.url, topology=self.topology, close_grace=1.0, publish_timeout=20.0)
        await bus.start()
        self.made.append(bus)
        return bus

    async def close_all(self) -> None:
        """Close every bus made here, newest first."""
        for bus in reversed(self.made):
            await bus.close()
        self.made.clear()
        if self.broker is not None:
            await self.broker.close()


@dataclass
class Harness:
    """One scheduler, one worker pool, one client, one store."""

    settings: Settings
    store: SqliteStore
    buses: BusMaker
    client: Bus
    scheduler: SchedulerService | None = None
    workers: FakeWorkerPool | None = None
    scheduler_bus: Bus | None = None
    pools: list[FakeWorkerPool] = field(default_factory=list)

    @property
    def pool(self) -> FakeWorkerPool:
        assert self.workers is not None
        return self.workers

    async def start_scheduler(self) -> SchedulerService:
        """Start an in-process scheduler on a connection of its own."""
        self.scheduler_bus = await self.buses.new()
        self.scheduler = SchedulerService(settings=self.settings, bus=self.scheduler_bus, store=self.store)
        await self.scheduler.start()
        return self.scheduler

    async def start_workers(self, **options: Any) -> FakeWorkerPool:
        """Start the fake pool (in this process) on a connection of its own."""
        self.workers = FakeWorkerPool(await self.buses.new(), **options)
        await self.workers.start()
        self.pools.append(self.workers)
        return self.workers

    async def close(self) -> None:
        try:
            for pool in self.pools:
                await pool.stop()
            if self.scheduler is not None:
                await self.scheduler.stop()
            await self.buses.close_all()
        finally:  # even when a stop hangs and is cut short: an open store's thread outlives the run
            await self.store.close()

    # --- the gateway's part -----------------------------------------------------------------------------

    async def add_task(
        self,
        user_id: str,
        config: dict[str, Any] | None = None,
        *,
        task_type: TaskType = TaskType.VIDEO_MERGE,
        publish: bool = True,
        with_version: bool = True,
        task_id: str | None = None,
    ) -> str:
        """Insert a queued task as the gateway's submit does, then publish SubmitTask.

        `with_version=False` sends the bare SubmitTask, which makes the scheduler read the task.
        `task_id`: the gateway's form (a UUID with hyphens) for tasks the HTTP API must accept.
        """
        task_id = task_id or uuid.uuid4().hex
        now = utcnow()
        task = await self.store.insert(
            Task(
                task_id=task_id,
                user_id=user_id,
                task_type=task_type,
                status=TaskStatus.QUEUED,
                created_at=now,
                submitted_at=now,
                config=config or behaviour("noop"),
                inputs=[InputFile(key=f"uploads/{user_id}/{task_id}/in.mp4", original_name="in.mp4", size=1)],
            )
        )
        if publish:
            if with_version:
                message = SubmitTask(
                    task_id=task_id,
                    user_id=user_id,
                    task_type=task_type,
                    version=task.version,
                    submitted_at=task.submitted_at,
                )
            else:
                message = SubmitTask(task_id=task_id, user_id=user_id, task_type=task_type)
            await self.send(message, task_id)
        return task_id

    async def cancel(self, task_id: str, user_id: str) -> None:
        await self.send(CancelTask(task_id=task_id, user_id=user_id), task_id)

    async def retry(self, task_id: str, user_id: str) -> None:
        await self.send(RetryTask(task_id=task_id, user_id=user_id), task_id)

    async def send(self, message: Message, task_id: str | None = None) -> None:
        await self.client.publish(COMMANDS, SCHEDULER_KEY, Envelope.wrap(message, correlation_id=task_id))

    # --- looking -----------------------------------------------------------------------------------------

    async def task(self, task_id: str) -> Task:
        task = await self.store.get(task_id)
        assert task is not None, task_id
        return task

    async def wait_status(self, task_id: str, *statuses: TaskStatus, timeout: float = 10.0) -> Task:
        """Poll the store until the task is in one of `statuses`."""

        async def check() -> Task | None:
            task = await self.task(task_id)
            return task if task.status in statuses else None

        return await eventually(check, timeout=timeout, what=f"{task_id} in {[s.value for s in statuses]}")

    async def wait_terminal(self, task_ids: Iterable[str], timeout: float = 30.0) -> list[Task]:
        """Poll until every task is completed, failed, cancelled or expired."""
        ids = list(task_ids)

        async def check() -> list[Task] | None:
            tasks = [await self.task(t) for t in ids]
            return tasks if all(t.status in TERMINAL_STATUSES for t in tasks) else None

        return await eventually(check, timeout=timeout, interval=0.1, what="every task terminal")


async def make_harness(tmp_path: Path, kind: str, *, url: str | None = None, **overrides: Any) -> Harness:
    """A harness with started store and client bus; start the scheduler and workers as the test needs."""
    settings = fast_settings(**overrides)
    store = SqliteStore(tmp_path / "tasks.db")
    await store.start()
    buses = BusMaker(kind, build_topology(tuple(settings.retry_delays_ms), settings.delivery_limit), url=url)
    client = await buses.new()
    return Harness(settings, store, buses, client)


class StoreSampler:
    """Reads the running tasks from the store over and over and keeps the worst moment seen."""

    def __init__(self, harness: Harness) -> None:
        self.harness = harness
        self.samples = 0
        self.peak_total = 0
        self.peak_per_user = 0
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> StoreSampler:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        if self._task.done():
            self._task.result()  # a sampler that died must not pass for one that saw nothing
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        running = (TaskStatus.PROCESSING, TaskStatus.CANCELLING)
        while True:
            tasks = await self.harness.store.list_by_status(running, limit=1000)
            per_user = Counter(t.user_id for t in tasks)
            self.samples += 1
            self.peak_total = max(self.peak_total, len(tasks))
            self.peak_per_user = max(self.peak_per_user, max(per_user.values(), default=0))
            await asyncio.sleep(0.005)
