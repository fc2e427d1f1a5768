"""What the scheduler sends: jobs, cancel signals, delayed retries, and task events for live views.

Jobs and task events go through a background pump that publishes them in order, many in flight
at once, so a broker confirm (milliseconds on a quorum queue that syncs to disk) never holds up
the inbox. Nothing is lost by not waiting: a job whose publish fails leaves its task processing
with a lease, which lapses and retries the attempt like a lost worker's; task events only inform
live views, which re-read the store. Cancel signals, delayed retries and ticks are rare and are
awaited.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from mediacraft.shared.logging import get_logger
from mediacraft.shared.messages import (
    CancelJob,
    Envelope,
    Message,
    ReconcileTasks,
    RetryDue,
    RunDetection,
    RunJob,
    TaskProgressed,
    TaskStatusChanged,
)
from mediacraft.shared.object_keys import attempt_prefix
from mediacraft.shared.ports.bus import Bus
from mediacraft.shared.tasks import POOL_OF_TYPE, Task, TaskStatus
from mediacraft.shared.topology import (
    COMMANDS,
    CONTROL,
    EVENTS,
    JOBS,
    RETRY,
    SCHEDULER_INBOX,
    SCHEDULER_KEY,
    TARGET_HEADER,
)

log = get_logger("mediacraft.scheduler.publisher")

_STOP = object()


@dataclass(frozen=True)
class _Outgoing:
    exchange: str
    routing_key: str
    envelope: Envelope
    mandatory: bool


class Publisher:
    """The scheduler's outgoing messages, with correlation and causation filled in."""

    def __init__(self, bus: Bus, *, max_pending: int = 10_000, batch: int = 64) -> None:
        self.bus = bus
        self._pending: asyncio.Queue[Any] = asyncio.Queue(max_pending)
        self._batch = batch
        self._pump: asyncio.Task[None] | None = None
        self.dropped = 0
        # told of every status change too (mediacraft.scheduler.journal), when the service sets one
        self.journal: Any = None

    async def start(self) -> None:
        """Start the task-event pump."""
        if self._pump is None:
            self._pump = asyncio.get_running_loop().create_task(self._run_pump(), name="task-events")

    async def stop(self) -> None:
        """Publish what is pending, then stop the pump."""
        if self._pump is None:
            return
        await self._pending.put(_STOP)
        try:
            await asyncio.wait_for(self._pump, timeout=10)
        except TimeoutError:
            self._pump.cancel()
        self._pump = None

    async def flush(self) -> None:
        """Wait until every job and task event queued so far has been handed to the broker."""
        await self._pending.join()

    async def run_job(self, task: Task, *, deadline_seconds: float, causation_id: str | None) -> None:
        """Queue the current attempt of `task` for its pool (waits only when the pump is full)."""
        job = RunJob(
            task_id=task.task_id,
            user_id=task.user_id,
            attempt=task.attempts,
            task_type=task.task_type,
            inputs=task.inputs,
            config=task.config,
            output_key=attempt_prefix(task.task_id, task.attempts),
            deadline_seconds=deadline_seconds,
        )
        envelope = Envelope.wrap(job, correlation_id=task.task_id, causation_id=causation_id)
        await self._pending.put(_Outgoing(JOBS, POOL_OF_TYPE[task.task_type], envelope, True))

    async def run_detection(self, task: Task, request_id: str, *, causation_id: str | None) -> None:
        """Queue a detection job for the draft's uploaded video in its pool."""
        job = RunDetection(task_id=task.task_id, user_id=task.user_id, request_id=request_id, inputs=task.inputs)
        envelope = Envelope.wrap(job, correlation_id=task.task_id, causation_id=causation_id)
        await self._pending.put(_Outgoing(JOBS, POOL_OF_TYPE[task.task_type], envelope, True))

    async def cancel_job(self, task_id: str, attempt: int, *, causation_id: str | None) -> None:
        """Tell every worker to stop (or skip) this attempt."""
        # with no worker running nobody listens, and that is fine: there is nothing to stop
        await self._send(
            CONTROL, "", CancelJob(task_id=task_id, attempt=attempt), task_id, causation_id, mandatory=False
        )

    async def retry_due(self, task_id: str, attempt: int, delay_ms: int, *, causation_id: str | None) -> None:
        """A RetryDue that comes back to the inbox when `delay_ms` is over."""
        message = RetryDue(task_id=task_id, attempt=attempt)
        envelope = Envelope.wrap(message, correlation_id=task_id, causation_id=causation_id)
        await self.bus.publish(RETRY, str(delay_ms), envelope, headers={TARGET_HEADER: SCHEDULER_INBOX})

    async def reconcile(self, reason: str) -> None:
        """Nudge whichever scheduler is active (and make a standby notice it became active)."""
        await self._send(COMMANDS, SCHEDULER_KEY, ReconcileTasks(reason=reason), None, None)

    async def _send(
        self,
        exchange: str,
        key: str,
        message: Message,
        task_id: str | None,
        causation_id: str | None,
        *,
        mandatory: bool = True,
    ) -> None:
        envelope = Envelope.wrap(message, correlation_id=task_id, causation_id=causation_id)
        await self.bus.publish(exchange, key, envelope, mandatory=mandatory)

    def status_changed(self, task: Task, previous: TaskStatus | None, *, causation_id: str | None) -> None:
        """Queue a task.status_changed event with the task as it now is (and its history entry)."""
        self._queue_event(TaskStatusChanged.of(task, previous), task.task_id, causation_id)
        if self.journal is not None:
            self.journal.status_changed(task, previous)

    def progressed(self, task: Task, *, causation_id: str | None) -> None:
        """Queue a task.progressed event."""
        self._queue_event(TaskProgressed.of(task), task.task_id, causation_id)

    def _queue_event(self, event: Message, task_id: str, causation_id: str | None) -> None:
        envelope = Envelope.wrap(event, correlation_id=task_id, causation_id=causation_id)
        try:
            # not mandatory: with no live view connected, no queue is bound to task.#
            self._pending.put_nowait(_Outgoing(EVENTS, envelope.type, envelope, False))
        except asyncio.QueueFull:
            # live views re-read the store; losing a notification beats stalling the lifecycle
            self.dropped += 1
            log.warning("scheduler.task_event_dropped", task_id=task_id, dropped=self.dropped)

    async def _run_pump(self) -> None:
        while True:
            batch = [await self._pending.get()]
            while len(batch) < self._batch and not self._pending.empty():
                batch.append(self._pending.get_nowait())
            outgoing = [item for item in batch if item is not _STOP]
            results = await asyncio.gather(
                *(self.bus.publish(o.exchange, o.routing_key, o.envelope, mandatory=o.mandatory) for o in outgoing),
                return_exceptions=True,
            )
            for item, result in zip(outgoing, results, strict=True):
                if isinstance(result, Exception):
                    # a job lost here is retried when its lease lapses; an event only informed
                    level = log.error if item.exchange == JOBS else log.warning
                    level(
                        "scheduler.publish_lost",
                        type=item.envelope.type,
                        task_id=item.envelope.correlation_id,
                        error=repr(result),
                    )
            for _ in batch:
                self._pending.task_done()
            if len(outgoing) < len(batch):
                return
