"""End to end: a task submitted as the gateway does, the real scheduler, a real generate worker.

The retry schedule is the product's (a wait per step, at most 3 retries), shortened to
0.3 / 0.6 / 0.9 s. The generation service is a fake on 127.0.0.1 that is down (its port
refuses connections) until the test brings it up.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import cv2

from mediacraft.scheduler.service import SchedulerService
from mediacraft.scheduler.settings import Settings
from mediacraft.shared import transitions
from mediacraft.shared.adapters.bus.memory import MemoryBroker, MemoryBus
from mediacraft.shared.adapters.objects.local import LocalObjectStore
from mediacraft.shared.adapters.store.sqlite import SqliteStore
from mediacraft.shared.clock import SystemClock, utcnow
from mediacraft.shared.error_texts import text
from mediacraft.shared.generation import validate_generation_config
from mediacraft.shared.messages import Envelope, SubmitTask, TaskStatusChanged
from mediacraft.shared.ports.bus import Incoming
from mediacraft.shared.tasks import TERMINAL_STATUSES, Task, TaskStatus, TaskType
from mediacraft.shared.topology import COMMANDS, EVENTS, SCHEDULER_KEY, build_topology
from mediacraft.shared.worker.runtime import WorkerRuntime
from mediacraft.shared.worker.settings import WorkerSettings
from mediacraft.worker_generate.processor import GenerateProcessor
from mediacraft.worker_generate.providers.base import GenerationProvider
from mediacraft.worker_generate.providers.http import HttpProvider
from mediacraft.worker_generate.providers.local import LocalProvider
from tests.integration.generate.backend import Reply, in_order, json_error, png_bytes
from tests.integration.generate.conftest import BackendFactory

DELAYS_S = (0.3, 0.6, 0.9)
# what a person reads: the error table's sentence (the backend's own detail goes to the log)
DOWN = text("generation_backend_unavailable")


class Flow:
    """Scheduler, generate worker and a gateway-like client, each on its own in-process connection."""

    def __init__(self, tmp: Path, provider: GenerationProvider) -> None:
        self.settings = Settings(
            retry_delays_ms=tuple(round(s * 1000) for s in DELAYS_S),
            lease_seconds=5.0,
            tick_seconds=0.1,
            reconcile_seconds=1.0,
            progress_throttle_seconds=0.2,
            queue_position_refresh_seconds=0.2,
        )
        topology = build_topology(tuple(self.settings.retry_delays_ms), self.settings.delivery_limit)
        self.broker = MemoryBroker(SystemClock())
        self.buses = [MemoryBus(topology=topology, broker=self.broker, close_grace=1.0) for _ in range(3)]
        self.gateway_bus, scheduler_bus, worker_bus = self.buses
        self.store = SqliteStore(tmp / "tasks.db")
        self.objects = LocalObjectStore(tmp / "objects")
        self.provider = provider
        self.scheduler = SchedulerService(settings=self.settings, bus=scheduler_bus, store=self.store)
        self.changes: list[TaskStatusChanged] = []
        self.worker = WorkerRuntime(
            pool="generate",
            processor=GenerateProcessor(provider),
            bus=worker_bus,
            objects=self.objects,
            settings=WorkerSettings(work_dir=str(tmp / "work"), progress_interval_seconds=0.05, heartbeat_seconds=0.5),
        )

    async def __aenter__(self) -> Flow:
        for bus in self.buses:
            await bus.start()
        await self.store.start()
        await self.objects.start()
        # what a gateway replica forwards to the browser: every transition the scheduler writes
        updates = await self.gateway_bus.declare_private_queue([(EVENTS, "task.#")])

        async def collect(incoming: Incoming) -> None:
            message = incoming.envelope.open()
            if isinstance(message, TaskStatusChanged):
                self.changes.append(message)

        await self.gateway_bus.consume(updates, collect, prefetch=100)
        await self.scheduler.start()
        await self.worker.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.worker.stop(grace=5)
        await self.scheduler.stop()
        for bus in reversed(self.buses):
            await bus.close()
        await self.broker.close()
        await self.store.close()
        await self.objects.close()
        self.provider.close()

    async def submit(self, task_type: TaskType, config: dict[str, Any]) -> str:
        """What the gateway does: a draft, then CAS created -> queued with the validated config, then SubmitTask."""
        task_id = uuid.uuid4().hex
        draft = await self.store.insert(
            Task(task_id=task_id, user_id="alice", task_type=task_type, created_at=utcnow())
        )
        await self.store.transition(
            task_id,
            transitions.SUBMIT,
            expected_version=draft.version,
            changes={"config": validate_generation_config(task_type, config), "submitted_at": utcnow()},
        )
        submit = SubmitTask(task_id=task_id, user_id="alice", task_type=task_type)
        await self.gateway_bus.publish(COMMANDS, SCHEDULER_KEY, Envelope.wrap(submit, correlation_id=task_id))
        return task_id

    async def announced(self, task_id: str, final: TaskStatus, timeout: float = 5.0) -> list[tuple[str, int]]:
        """(status, retry_count) of every status change announced for the task, up to `final`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            seen = [(c.status.value, c.task.get("retry_count", -1)) for c in self.changes if c.task_id == task_id]
            if seen and seen[-1][0] == final.value:
                return seen
            assert loop.time() < deadline, f"{final} not announced: {seen}"
            await asyncio.sleep(0.01)

    async def follow(
        self, task_id: str, *, timeout: float = 20.0, on_each: Callable[[Task], Awaitable[None]] | None = None
    ) -> Task:
        """Poll the task until it is final, handing every reading to `on_each`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            task = await self.store.get(task_id)
            assert task is not None
            if on_each is not None:
                await on_each(task)
            if task.status in TERMINAL_STATUSES:
                return task
            assert loop.time() < deadline, f"task still {task.status} after {timeout}s"
            await asyncio.sleep(0.01)


async def test_a_backend_down_for_two_attempts_completes_on_the_third(
    tmp_path: Path, backend_factory: BackendFactory
) -> None:
    picture = png_bytes(128, 96)
    backend = backend_factory(in_order(Reply(body=picture)), listening=False)
    waits: dict[int, Task] = {}

    async def watch(task: Task) -> None:
        if task.status == TaskStatus.RETRYING and task.retry_count not in waits:
            waits[task.retry_count] = task
            if task.retry_count == 2:
                backend.up()  # the service comes back during the second wait

    async with Flow(tmp_path, HttpProvider(backend.url, timeout=2)) as flow:
        task_id = await flow.submit(TaskType.IMAGE_GENERATION, {"prompt": "a harbour at dawn", "size": "128x96"})
        done = await flow.follow(task_id, on_each=watch)
        assert done.status == TaskStatus.COMPLETED, done.error_message
        assert (done.attempts, done.retry_count, done.error_message, done.next_retry_at) == (3, 2, None, None)
        assert sorted(waits) == [1, 2]
        for number, waiting in waits.items():
            # a person sees why it waits and when it tries again
            assert waiting.error_message == DOWN and waiting.error is not None and waiting.error.retryable
            assert waiting.next_retry_at is not None and waiting.updated_at is not None
            planned = (waiting.next_retry_at - waiting.updated_at).total_seconds()
            assert abs(planned - DELAYS_S[number - 1]) < 0.25, (number, planned)
        assert done.result is not None and done.result.key == f"results/{task_id}/3/image.png"
        assert done.result.info["provider"] == "http"
        fetched = tmp_path / "result.png"
        await flow.objects.get_file(done.result.key, fetched)
        assert fetched.read_bytes() == picture
        assert len(backend.received) == 1 and backend.received[0].body["attempt"] == 3
        assert await flow.announced(task_id, TaskStatus.COMPLETED) == [
            ("processing", 0),
            ("retrying", 1),
            ("queued", 1),
            ("processing", 1),
            ("retrying", 2),
            ("queued", 2),
            ("processing", 2),
            ("completed", 2),
        ]
        # the seed was derived once from the task: the retry asked for the same picture
        assert backend.received[0].body["seed"] == done.result.info["seed"]


async def test_a_backend_that_stays_down_fails_after_three_retries_with_a_clear_message(
    tmp_path: Path, backend_factory: BackendFactory
) -> None:
    backend = backend_factory(in_order(Reply(body=png_bytes())), listening=False)
    async with Flow(tmp_path, HttpProvider(backend.url, timeout=2)) as flow:
        task_id = await flow.submit(TaskType.IMAGE_GENERATION, {"prompt": "anything at all"})
        failed = await flow.follow(task_id)
        assert failed.status == TaskStatus.FAILED
        assert (failed.attempts, failed.retry_count, failed.next_retry_at) == (4, 3, None)
        assert failed.error_message == f"{DOWN}. Gave up after 3 retries."
        assert failed.error is not None and failed.error.code == "generation_backend_unavailable"
        run = [("processing", n) for n in range(4)]
        waits = [("retrying", n) for n in range(1, 4)]
        requeued = [("queued", n) for n in range(1, 4)]
        expected = [
            run[0],
            waits[0],
            requeued[0],
            run[1],
            waits[1],
            requeued[1],
            run[2],
            waits[2],
            requeued[2],
            run[3],
            ("failed", 3),
        ]
        assert await flow.announced(task_id, TaskStatus.FAILED) == expected
        assert [o async for o in flow.objects.list("results/")] == []


async def test_a_backend_that_refuses_the_prompt_fails_at_once(tmp_path: Path, backend_factory: BackendFactory) -> None:
    backend = backend_factory(in_order(json_error(422, "The prompt contains a banned word")))
    async with Flow(tmp_path, HttpProvider(backend.url, timeout=2)) as flow:
        task_id = await flow.submit(TaskType.IMAGE_GENERATION, {"prompt": "something banned"})
        failed = await flow.follow(task_id)
        assert failed.status == TaskStatus.FAILED
        assert (failed.attempts, failed.retry_count) == (1, 0)
        assert failed.error_message == "The generation service refused the request: The prompt contains a banned word"
        assert failed.error is not None and (failed.error.code, failed.error.retryable) == (
            "generation_rejected",
            False,
        )
        assert len(backend.received) == 1
        assert await flow.announced(task_id, TaskStatus.FAILED) == [("processing", 0), ("failed", 0)]


async def test_the_local_provider_completes_a_video_task_on_a_laptop_setup(tmp_path: Path) -> None:
    async with Flow(tmp_path, LocalProvider()) as flow:
        task_id = await flow.submit(
            TaskType.VIDEO_GENERATION,
            {"prompt": "northern lights", "width": 320, "height": 180, "duration": 1, "fps": 12},
        )
        done = await flow.follow(task_id)
        assert done.status == TaskStatus.COMPLETED, done.error_message
        assert done.result is not None and done.result.info["provider"] == "local"
        assert done.result.media is not None and (done.result.media.width, done.result.media.height) == (320, 180)
        fetched = tmp_path / "video.mp4"
        await flow.objects.get_file(done.result.key, fetched)
        capture = cv2.VideoCapture(str(fetched))
        try:
            frames = 0
            while capture.read()[0]:
                frames += 1
        finally:
            capture.release()
        assert frames == 12
