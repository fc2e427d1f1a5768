"""A scheduler driven message by message on a fake clock: the rig of the handler unit tests.

The scheduler is the real one (its inbox, the handler table, dispatch, its Publisher, the store's
compare-and-set on a SQLite file); only what lies outside it is replaced. The bus is a
`RecordingBus`, which keeps what the scheduler publishes instead of routing it (as cosmicpython's
FakeMessageBus does) and hands the test the inbox consumer, so the test plays the broker: it
delivers each command or worker event, and a delayed RetryDue once the test has moved the clock
past its delay. Time is a `FakeClock` that moves only when a test advances it; the scheduler's own
timers are set far beyond a test's length, so the test delivers the ticks itself.

Messages go in through the inbox, which looks the handler up in `HANDLERS`, rather than by
calling the table here: what the inbox adds (dropping a message id already handled, reading the
store on the first delivery, dispatching what a batch freed) is the scheduler's behaviour too,
and a rig that repeated it could pass while the scheduler did otherwise.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from mediacraft.scheduler.service import SchedulerService
from mediacraft.scheduler.settings import Settings
from mediacraft.shared.adapters.store.sqlite import SqliteStore
from mediacraft.shared.clock import FakeClock
from mediacraft.shared.messages import (
    CancelJob,
    CancelTask,
    Envelope,
    JobCancelled,
    JobFailed,
    JobHeartbeat,
    JobProgress,
    JobStarted,
    JobSucceeded,
    Message,
    ReconcileTasks,
    RetryDue,
    RetryTask,
    RunJob,
    SubmitTask,
    TaskProgressed,
    TaskStatusChanged,
)
from mediacraft.shared.ports.bus import Handler, Incoming
from mediacraft.shared.tasks import InputFile, ResultFile, Task, TaskStatus, TaskType
from mediacraft.shared.topology import COMMANDS, EVENTS, SCHEDULER_INBOX, Topology, build_topology

M = TypeVar("M", bound=Message)

# delays, leases and limits a test can step through with the clock. The scheduler's timers run on
# real time and are set far beyond a test's length, so every tick is one the test delivers, and
# no silence within a test is long enough (three ticks) to make the scheduler rebuild its memory.
SETTINGS: dict[str, Any] = {
    "quota_per_user": 1,
    "quota_global": 5,
    "retry_delays_ms": (1_000, 5_000, 30_000),
    "lease_seconds": 60.0,
    "start_timeout_seconds": 600.0,
    "max_run_seconds": 1_800.0,
    "progress_throttle_seconds": 1.0,
    "tick_seconds": 60.0,  # a retry whose RetryDue was lost is requeued two ticks after it was due
    "reconcile_seconds": 3_600.0,
    "queue_position_refresh_seconds": 3_600.0,
}


@dataclass(frozen=True)
class Published:
    """One publish as the broker would have received it."""

    exchange: str
    routing_key: str
    envelope: Envelope
    headers: dict[str, Any]
    mandatory: bool

    @property
    def message(self) -> Message:
        return self.envelope.open()


class _Subscription:
    def __init__(self, bus: RecordingBus, queue: str) -> None:
        self.bus, self.queue = bus, queue

    async def cancel(self) -> None:
        self.bus.consumers.pop(self.queue, None)


@dataclass
class RecordingBus:
    """The Bus port with no broker behind it: publishes are recorded, consumers are handed out."""

    topology: Topology = field(default_factory=build_topology)
    published: list[Published] = field(default_factory=list)
    consumers: dict[str, Handler] = field(default_factory=dict)

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        self.consumers.clear()

    async def publish(
        self,
        exchange: str,
        routing_key: str,
        envelope: Envelope,
        *,
        headers: dict[str, Any] | None = None,
        mandatory: bool = True,
        timeout: float | None = None,
    ) -> None:
        self.published.append(Published(exchange, routing_key, envelope, dict(headers or {}), mandatory))

    async def consume(self, queue: str, handler: Handler, *, prefetch: int = 1) -> _Subscription:
        self.consumers[queue] = handler
        return _Subscription(self, queue)

    async def declare_private_queue(self, bindings: Sequence[tuple[str, str]]) -> str:
        return f"private.{len(self.consumers)}"

    async def ping(self) -> bool:
        return True


class SchedulerRig:
    """One scheduler on a recording bus, a fake clock and a SQLite file; the test plays the gateway,
    the workers and the broker."""

    def __init__(self, tmp_path: Path, **overrides: Any) -> None:
        self.settings = Settings(**{**SETTINGS, **overrides})
        self.clock = FakeClock()
        self.store = SqliteStore(tmp_path / "tasks.db", clock=self.clock, synchronous="OFF")
        self.bus = RecordingBus(topology=build_topology(tuple(self.settings.retry_delays_ms)))
        self.service: SchedulerService | None = None
        self._ids = itertools.count(1)

    async def start(self) -> SchedulerRig:
        await self.store.start()
        await self.start_scheduler()
        return self

    async def start_scheduler(self) -> SchedulerService:
        """Start a scheduler process (again, after `stop_scheduler`: a new one on the same store)."""
        self.service = SchedulerService(settings=self.settings, bus=self.bus, store=self.store, clock=self.clock)
        await self.service.start()
        return self.service

    async def stop_scheduler(self) -> None:
        if self.service is not None:
            await self.service.stop()
            self.service = None

    async def close(self) -> None:
        await self.stop_scheduler()
        await self.store.close()

    @property
    def scheduler(self) -> SchedulerService:
        assert self.service is not None, "no scheduler running"
        return self.service

    # --- the broker's part ------------------------------------------------------------------------------

    async def deliver(self, envelope: Envelope, exchange: str = EVENTS) -> None:
        """Hand one inbox message to the scheduler and wait until it is handled, dispatch included,
        and everything it published has reached the bus."""
        inbox = self.bus.consumers[SCHEDULER_INBOX]
        await inbox(Incoming(envelope=envelope, queue=SCHEDULER_INBOX, exchange=exchange, routing_key=envelope.type))
        await self.scheduler.publisher.flush()

    async def send(self, message: Message) -> Envelope:
        """Deliver a message in a new envelope; returns the envelope (to deliver it again)."""
        envelope = Envelope.wrap(message, correlation_id=getattr(message, "task_id", None))
        command = isinstance(message, (SubmitTask, CancelTask, RetryTask, ReconcileTasks))
        await self.deliver(envelope, COMMANDS if command else EVENTS)
        return envelope

    async def tick(self) -> None:
        """The periodic tick: lapsed leases, overdue retries, throttled progress."""
        await self.send(ReconcileTasks(reason="tick"))

    async def retry_comes_due(self, task_id: str) -> RetryDue:
        """Move the clock to the retry's delay and deliver the RetryDue as the delay queue would."""
        sent = [p for p in self.bus.published if isinstance(p.message, RetryDue) and p.message.task_id == task_id]
        assert sent, f"no RetryDue was published for {task_id}"
        await self.clock.advance(int(sent[-1].routing_key) / 1000)
        await self.deliver(sent[-1].envelope)
        message = sent[-1].message
        assert isinstance(message, RetryDue)
        return message

    # --- the gateway's part -----------------------------------------------------------------------------

    async def add_task(self, user_id: str, *, task_type: TaskType = TaskType.VIDEO_MERGE) -> str:
        """Insert a queued task as the gateway's submit does (without telling the scheduler)."""
        task_id = f"t{next(self._ids):03d}-{user_id}"
        await self.clock.advance(0.001)  # each submission strictly later than the one before
        now = self.clock.now()
        await self.store.insert(
            Task(
                task_id=task_id,
                user_id=user_id,
                task_type=task_type,
                status=TaskStatus.QUEUED,
                created_at=now,
                submitted_at=now,
                max_retries=self.settings.effective_max_retries,
                inputs=[InputFile(key=f"uploads/{user_id}/{task_id}/in.mp4", original_name="in.mp4", size=1)],
            )
        )
        return task_id

    async def submit(self, user_id: str, *, task_type: TaskType = TaskType.VIDEO_MERGE) -> str:
        """Queue a task and send its SubmitTask, as the gateway does."""
        task_id = await self.add_task(user_id, task_type=task_type)
        task = await self.task(task_id)
        await self.send(
            SubmitTask(
                task_id=task_id,
                user_id=user_id,
                task_type=task_type,
                version=task.version,
                submitted_at=task.submitted_at,
            )
        )
        return task_id

    async def cancel(self, task_id: str, user_id: str | None = None) -> Envelope:
        return await self.send(CancelTask(task_id=task_id, user_id=user_id or await self.owner(task_id)))

    async def retry(self, task_id: str) -> Envelope:
        return await self.send(RetryTask(task_id=task_id, user_id=await self.owner(task_id)))

    # --- the workers' part ------------------------------------------------------------------------------

    async def started(self, task_id: str, attempt: int = 1) -> None:
        await self.send(JobStarted(task_id=task_id, attempt=attempt, worker_id="w1"))

    async def heartbeat(self, task_id: str, attempt: int = 1) -> None:
        await self.send(JobHeartbeat(task_id=task_id, attempt=attempt, worker_id="w1"))

    async def progress(
        self, task_id: str, percent: float, stage: str = "encode", attempt: int = 1, message: str | None = None
    ) -> None:
        await self.send(
            JobProgress(
                task_id=task_id, attempt=attempt, percent=percent, stage=stage, stage_percent=percent, message=message
            )
        )

    async def succeed(self, task_id: str, attempt: int = 1) -> Envelope:
        result = ResultFile(key=f"results/{task_id}/{attempt}/out.mp4", size=10, content_type="video/mp4")
        return await self.send(JobSucceeded(task_id=task_id, attempt=attempt, result=result))

    async def fail(
        self,
        task_id: str,
        attempt: int = 1,
        *,
        retryable: bool = True,
        message: str = "The encoder crashed.",
        retry_after_seconds: float | None = None,
    ) -> Envelope:
        return await self.send(
            JobFailed(
                task_id=task_id,
                attempt=attempt,
                code="encoder_crashed",
                message=message,
                retryable=retryable,
                retry_after_seconds=retry_after_seconds,
            )
        )

    async def worker_cancelled(self, task_id: str, attempt: int = 1) -> None:
        await self.send(JobCancelled(task_id=task_id, attempt=attempt))

    # --- looking ------------------------------------------------------------------------------------------

    async def task(self, task_id: str) -> Task:
        task = await self.store.get(task_id)
        assert task is not None, task_id
        return task

    async def owner(self, task_id: str) -> str:
        return (await self.task(task_id)).user_id

    async def status(self, task_id: str) -> TaskStatus:
        return (await self.task(task_id)).status

    async def statuses_of(self, user_id: str) -> dict[str, TaskStatus]:
        """Each of a user's tasks and its status, as the user's task list shows them."""
        page = await self.store.list_for_user(user_id, limit=100)
        return {task.task_id: task.status for task in page.items}

    def sent(self, kind: type[M]) -> list[M]:
        """Every message of this type the scheduler published, in order."""
        return [m for m in (p.message for p in self.bus.published) if isinstance(m, kind)]

    def jobs(self) -> list[tuple[str, int]]:
        """(task, attempt) of every RunJob published, in order."""
        return [(job.task_id, job.attempt) for job in self.sent(RunJob)]

    def stop_signals(self) -> list[tuple[str, int]]:
        """(task, attempt) of every CancelJob published, in order."""
        return [(signal.task_id, signal.attempt) for signal in self.sent(CancelJob)]

    def changes(self, task_id: str) -> list[tuple[TaskStatus | None, TaskStatus]]:
        """(previous, new) status of each task.status_changed event of a task, in order."""
        return [(e.previous_status, e.status) for e in self.sent(TaskStatusChanged) if e.task_id == task_id]

    def progress_events(self, task_id: str) -> list[float]:
        return [e.progress for e in self.sent(TaskProgressed) if e.task_id == task_id]


RigFactory = Callable[..., Awaitable[SchedulerRig]]
