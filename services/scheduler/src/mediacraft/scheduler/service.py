"""The running scheduler: one ordered inbox, handled one message at a time, plus its timers.

`scheduler.inbox` has a single active consumer, so every replica consumes it and only one gets
deliveries; a standby gets nothing until the active one goes away. All decisions are therefore
driven by deliveries, timers included: each replica publishes a `ReconcileTasks` tick to the inbox
every `tick_seconds`, and whichever replica is active handles it (lease lapses, overdue retries,
throttled progress, the periodic reconcile). A replica that sees its first delivery, or a
delivery after a silence longer than a few ticks, cannot know what happened meanwhile and rebuilds
its memory from the store before handling it.

Handlers run under one lock because decisions depend on the counters; the broker still pushes up
to `inbox_prefetch` messages ahead so that no round trip separates two messages. Within that
window, worker events and ticks go before commands: a finished job frees a slot, and a burst of
submissions queued ahead of it should not keep that slot empty. Reordering is safe because every
handler decides from the task's state, not from the order messages came in.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter, OrderedDict
from dataclasses import replace
from typing import Any

from mediacraft.scheduler.handlers import HANDLERS
from mediacraft.scheduler.lifecycle import Context, dispatch_ready
from mediacraft.scheduler.priority_lock import PriorityLock
from mediacraft.scheduler.publisher import Publisher
from mediacraft.scheduler.queue_positions import standings
from mediacraft.scheduler.recovery import adopt_missing, load_active, reconcile
from mediacraft.scheduler.rules import Rules
from mediacraft.scheduler.settings import Settings
from mediacraft.scheduler.state import SchedulerState
from mediacraft.shared.clock import Clock, SystemClock
from mediacraft.shared.errors import Conflict, InvalidInput, NotFound, RetryableError
from mediacraft.shared.logging import bound_contextvars, get_logger
from mediacraft.shared.messages import Envelope, JobFailed, ReconcileTasks, RunJob
from mediacraft.shared.ports.bus import Bus, Incoming, Subscription
from mediacraft.shared.ports.stores import TaskStore
from mediacraft.shared.tasks import TaskStatus
from mediacraft.shared.topology import DEAD, EVENTS, REASON_HEADER, SCHEDULER_INBOX

log = get_logger("mediacraft.scheduler.service")

JOB_DEAD_LETTERED = "job_dead_lettered"
HANDLER_BACKOFF = (0.1, 0.5, 2.0)  # in-place retries of a handler whose store or broker hiccuped
SEEN_IDS = 50_000


class RecentIds:
    """The last `size` message ids handled, for dropping duplicates cheaply."""

    def __init__(self, size: int) -> None:
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._size = size

    def __contains__(self, message_id: object) -> bool:
        return message_id in self._ids

    def add(self, message_id: str) -> None:
        """Remember an id, forgetting the oldest beyond the size."""
        self._ids[message_id] = None
        if len(self._ids) > self._size:
            self._ids.popitem(last=False)


class SchedulerService:
    """Consumes the inbox and runs the timers; bus and store are started and closed by the caller."""

    def __init__(self, *, settings: Settings, bus: Bus, store: TaskStore, clock: Clock | None = None) -> None:
        self.settings = settings
        self.bus = bus
        self.rules = Rules.from_settings(settings)
        self.state = SchedulerState(self.rules.quotas)
        self.publisher = Publisher(bus)
        self.ctx = Context(store, self.publisher, clock or SystemClock(), self.state, self.rules)
        self.lock = PriorityLock()
        self.seen = RecentIds(SEEN_IDS)
        self.takeover_gap = max(3 * settings.tick_seconds, 2.0)
        self.takeovers = 0
        self.handled: Counter[str] = Counter()  # messages handled, by type
        self._last_arrival: float | None = None
        self._takeover_pending = True
        self._subscriptions: list[Subscription] = []
        self._loops: list[asyncio.Task[None]] = []
        self._dead_queue: str | None = None

    # --- lifecycle ----------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start consuming the inbox, watching parked jobs, ticking and refreshing queue positions."""
        await self.publisher.start()
        self._dead_queue = await self.bus.declare_private_queue([(DEAD, "")])
        self._subscriptions.append(
            await self.bus.consume(SCHEDULER_INBOX, self.on_delivery, prefetch=self.settings.inbox_prefetch)
        )
        loop = asyncio.get_running_loop()
        self._loops = [
            loop.create_task(self._tick_loop(), name="scheduler-ticks"),
            loop.create_task(self._position_loop(), name="scheduler-positions"),
            loop.create_task(self._reconcile_loop(), name="scheduler-reconcile"),
        ]
        log.info("scheduler.started", quota_per_user=self.settings.quota_per_user,
                 quota_global=self.settings.quota_global, lease_seconds=self.settings.lease_seconds)

    def hold_dispatch(self) -> None:
        """Start no more tasks while this process drains before a stop; running ones still finish
        and are recorded (their events keep arriving). Waiting tasks stay queued in the store."""
        self.state.holding = True

    async def stop(self) -> None:
        """Stop timers and consumers; what is not handled yet goes back to the inbox."""
        for task in self._loops:
            task.cancel()
        for task in self._loops:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._loops = []
        for subscription in self._subscriptions:
            await subscription.cancel()
        self._subscriptions = []
        await self.publisher.stop()

    @property
    def active(self) -> bool:
        """True while inbox deliveries keep arriving: this replica is the active consumer."""
        if self._last_arrival is None:
            return False
        return asyncio.get_running_loop().time() - self._last_arrival <= self.takeover_gap

    # --- the inbox ------------------------------------------------------------------------------------

    async def on_delivery(self, incoming: Incoming) -> None:
        """Handle one inbox message: duplicates dropped, memory rebuilt first after a takeover."""
        envelope = incoming.envelope
        message = envelope.open()  # InvalidInput: the bus parks it in dead letters
        handler = HANDLERS.get(type(message))
        arrival = asyncio.get_running_loop().time()
        if self._last_arrival is None or arrival - self._last_arrival > self.takeover_gap:
            self._takeover_pending = True
        self._last_arrival = arrival
        if handler is None:
            log.warning("scheduler.unhandled_message", type=envelope.type)
            return
        urgent = envelope.type.startswith("job.") or envelope.type == ReconcileTasks.TYPE
        async with self.lock.hold(0 if urgent else 1):
            if self._takeover_pending:
                await self._take_over()
            if envelope.message_id in self.seen:
                return
            ctx = replace(self.ctx, causation_id=envelope.message_id)
            with bound_contextvars(task_id=envelope.correlation_id, message_type=envelope.type):
                await self._guarded(handler, message, ctx)
                self.seen.add(envelope.message_id)
                self.handled[envelope.type] += 1
                await self._guarded(dispatch_ready, ctx)

    async def _take_over(self) -> None:
        await self._guarded(self._rebuild)
        self._takeover_pending = False
        self.takeovers += 1

    async def _rebuild(self) -> None:
        await reconcile(self.ctx, takeover=True)

    async def _guarded(self, fn: Any, *args: Any) -> None:
        """Run `fn`, retrying in place through short store or broker hiccups, then via a delay queue."""
        for delay in (*HANDLER_BACKOFF, None):
            try:
                await fn(*args)
                return
            except (InvalidInput, RetryableError):
                raise
            except Exception as exc:  # a store or broker failure, or a lost race: the step re-reads
                if delay is None:
                    raise RetryableError(f"scheduler step kept failing: {exc!r}") from exc
                log.warning("scheduler.step_failed", step=getattr(fn, "__name__", str(fn)), error=repr(exc),
                            retry_in=delay)
                await asyncio.sleep(delay)

    # --- timers ---------------------------------------------------------------------------------------

    async def _tick_loop(self) -> None:
        reason = "startup"
        while True:
            try:
                await self.publisher.reconcile(reason)
                reason = "tick"
            except Exception as exc:  # broker down: the next tick tries again
                log.warning("scheduler.tick_not_sent", error=repr(exc))
            try:
                await self._forward_parked_jobs()
            except Exception as exc:
                log.warning("scheduler.dead_letter_watch_failed", error=repr(exc))
            await asyncio.sleep(self.settings.tick_seconds)

    async def _forward_parked_jobs(self) -> None:
        """A parked RunJob fails its task: each replica forwards the copy it sees (the inbox dedups)."""
        get = getattr(self.bus, "get", None)
        if get is None or self._dead_queue is None:
            return
        while (raw := await get(self._dead_queue)) is not None:
            try:
                envelope = raw.envelope()
                if envelope.type != RunJob.TYPE:
                    continue
                job = envelope.open()
            except InvalidInput:
                continue
            assert isinstance(job, RunJob)
            reason = str(raw.headers.get(REASON_HEADER) or raw.headers.get("x-first-death-reason") or "")
            failed = JobFailed(
                task_id=job.task_id,
                attempt=job.attempt,
                code=JOB_DEAD_LETTERED,
                message="The task could not be processed: its job failed repeatedly and was set aside"
                + (f" ({reason})." if reason else "."),
                retryable=False,
            )
            await self.bus.publish(
                EVENTS, JobFailed.TYPE,
                Envelope.wrap(failed, correlation_id=job.task_id, causation_id=envelope.message_id),
            )
            log.warning("scheduler.job_dead_lettered", task_id=job.task_id, attempt=job.attempt, reason=reason)

    async def _reconcile_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.reconcile_seconds)
            if not self.active:
                continue
            try:
                await self.adopt_lost_tasks()
            except Exception as exc:
                log.warning("scheduler.reconcile_failed", error=repr(exc))

    async def adopt_lost_tasks(self) -> int:
        """Find active tasks in the store that memory lacks (their message was lost) and schedule them."""
        snapshot = await load_active(self.ctx.store)  # outside the lock: a long read stalls nothing
        async with self.lock.hold(0):
            adopted = adopt_missing(self.ctx, snapshot)
            if adopted:
                await self._guarded(dispatch_ready, self.ctx)
        return adopted

    async def _position_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.queue_position_refresh_seconds)
            if not self.active:
                continue
            try:
                await self.refresh_positions()
            except Exception as exc:
                log.warning("scheduler.positions_failed", error=repr(exc))

    async def refresh_positions(self) -> int:
        """Write changed queue positions and messages of waiting tasks; returns how many were written.

        Every dispatch moves every waiting task one place, so writing each change would cost a
        store write per waiting task per dispatch. Instead each refresh writes at most a budget of
        the most outdated standings (a new or changed message first, then the largest relative
        move: 2 -> 1 before 500 -> 499), and live views get the same through task events. It runs
        outside the inbox lock: each write is a compare-and-set on the version the line last saw,
        and a dispatch that loses to it re-reads and tries again.
        """
        current = standings(self.state.waiting, self.rules.quotas, self.state.usage)
        candidates = []
        for task_id, standing in current.items():
            entry = self.state.waiting.get(task_id)
            if entry is None:
                continue
            urgency = _staleness(entry.position, entry.message, standing.position, standing.message)
            if urgency > 0:
                candidates.append((urgency, entry, standing))
        candidates.sort(key=lambda c: c[0], reverse=True)
        written = 0
        for _, entry, standing in candidates[: self.settings.queue_position_writes_per_refresh]:
            if self.state.waiting.get(entry.task_id) is not entry:
                continue  # dispatched or cancelled since
            try:
                task = await self.ctx.store.transition(
                    entry.task_id,
                    expected_status=TaskStatus.QUEUED,
                    expected_version=entry.version,
                    changes={"queue_position": standing.position, "message": standing.message},
                )
            except (Conflict, NotFound):
                continue
            entry.version, entry.position, entry.message = task.version, standing.position, standing.message
            self.publisher.status_changed(task, TaskStatus.QUEUED, causation_id=None)
            written += 1
        return written


def _staleness(old_position: int | None, old_message: str | None, position: int, message: str) -> float:
    """How wrong the shown standing is: 0 when right, infinite when missing or the reason changed."""
    if old_position is None or old_message != message:
        return float("inf")
    return abs(position - old_position) / old_position
