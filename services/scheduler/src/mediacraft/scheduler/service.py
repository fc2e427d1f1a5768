"""The running scheduler: one ordered inbox, handled one message at a time, plus its timers.

`scheduler.inbox` has a single active consumer, so every replica consumes it and only one gets
deliveries; a standby gets nothing until the active one goes away. All decisions are therefore
driven by deliveries, timers included: each replica publishes a `ReconcileTasks` tick to the inbox
every `tick_seconds`, and whichever replica is active handles it (lease lapses, overdue retries,
throttled progress, the periodic reconcile). A replica that sees its first delivery, or a
delivery after a silence longer than a few ticks, cannot know what happened meanwhile and rebuilds
its memory from the store before handling it.

The broker pushes up to `inbox_prefetch` messages ahead, and one loop handles whatever has arrived
as a batch, under one lock (decisions depend on the counters): worker events and ticks go before
commands, because a finished job frees a slot and a burst of submissions queued ahead of it should
not keep that slot empty. Reordering is safe because every handler decides from the task's state,
not from the order messages came in. Within a batch, the messages of one task are handled in
order and different tasks side by side, so their store writes are in flight together; ticks,
which look at every task, go first and alone. The slots the batch freed are then filled in one
dispatch round. Each message is acked only once its batch, dispatch included, is done.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter, OrderedDict
from dataclasses import dataclass, replace
from typing import Any

from mediacraft.scheduler.controls import carry_out_requested, load_controlled
from mediacraft.scheduler.handlers import HANDLERS
from mediacraft.scheduler.journal import Journal
from mediacraft.scheduler.lifecycle import Context, dispatch_ready
from mediacraft.scheduler.metrics import SchedulerMetrics
from mediacraft.scheduler.operator_commands import apply_stored_quotas
from mediacraft.scheduler.publisher import Publisher
from mediacraft.scheduler.queue_positions import standings
from mediacraft.scheduler.quotas import Block, blocked_by
from mediacraft.scheduler.recovery import adopt_missing, load_active, reconcile
from mediacraft.scheduler.rules import Rules
from mediacraft.scheduler.settings import Settings
from mediacraft.scheduler.state import SchedulerState
from mediacraft.shared import transitions
from mediacraft.shared.clock import Clock, SystemClock
from mediacraft.shared.errors import Conflict, InvalidInput, NotFound, RetryableError
from mediacraft.shared.logging import bound_contextvars, get_logger
from mediacraft.shared.messages import (
    Envelope,
    JobCancelled,
    JobFailed,
    JobHeartbeat,
    JobProgress,
    JobStarted,
    JobSucceeded,
    Message,
    ReconcileTasks,
    RunJob,
)
from mediacraft.shared.operator_records import POOLS_RECORD, PoolFigures, PoolsSnapshot
from mediacraft.shared.ports.bus import Bus, Incoming, Subscription
from mediacraft.shared.ports.stores import TaskStore
from mediacraft.shared.tasks import POOL_OF_TYPE, TaskStatus
from mediacraft.shared.topology import DEAD, EVENTS, POOLS, REASON_HEADER, SCHEDULER_INBOX
from mediacraft.shared.tracing import SpanKind, continued, get_tracer

log = get_logger("mediacraft.scheduler.service")
TRACER = get_tracer("mediacraft.scheduler")
# frequent signs of life: handled in their task's trace (log lines carry its id) but with no span
# each, which would bury the trace of a long job
QUIET_TYPES = frozenset({JobHeartbeat.TYPE, JobProgress.TYPE})

JOB_DEAD_LETTERED = "job_dead_lettered"
HANDLER_BACKOFF = (0.1, 0.5, 2.0)  # in-place retries of a handler whose store or broker hiccuped
SEEN_IDS = 50_000
SLOT_FREEING = frozenset({JobSucceeded.TYPE, JobFailed.TYPE, JobCancelled.TYPE})
QUEUED_REASON = "queued"  # a waiting task no quota holds back: it only waits for its turn
WAITING_REASONS = (Block.USER.value, Block.SYSTEM.value, QUEUED_REASON)


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


@dataclass
class _Pending:
    """An inbox message waiting for its batch; `done` settles the delivery that brought it."""

    urgent: bool
    envelope: Envelope
    message: Message
    handler: Any
    done: asyncio.Future[None]
    error: BaseException | None = None


class SchedulerService:
    """Consumes the inbox and runs the timers; bus and store are started and closed by the caller."""

    def __init__(
        self,
        *,
        settings: Settings,
        bus: Bus,
        store: TaskStore,
        clock: Clock | None = None,
        metrics: SchedulerMetrics | None = None,
    ) -> None:
        self.settings = settings
        self.bus = bus
        self.rules = Rules.from_settings(settings)
        self.state = SchedulerState(self.rules.quotas)
        self.publisher = Publisher(bus)
        self.journal = Journal(store)
        self.publisher.journal = self.journal
        self.metrics = metrics or SchedulerMetrics()
        self.ctx = Context(store, self.publisher, clock or SystemClock(), self.state, self.rules, metrics=self.metrics)
        # worker id -> (pool, loop time last heard from): for the workers-alive gauge
        self._workers_heard: dict[str, tuple[str, float]] = {}
        self._task_workers: dict[str, str] = {}  # running task -> the worker last heard running it
        self._pools_written: float | None = None  # loop time of the last `scheduler.pools` record
        self.lock = asyncio.Lock()  # a batch, or a reconcile's adoption, at a time
        self.seen = RecentIds(SEEN_IDS)
        self.takeover_gap = max(3 * settings.tick_seconds, 2.0)
        self.takeovers = 0
        self.handled: Counter[str] = Counter()  # messages handled, by type
        self._last_arrival: float | None = None
        self._takeover_pending = True
        self._subscriptions: list[Subscription] = []
        self._loops: list[asyncio.Task[None]] = []
        self._dead_queue: str | None = None
        self._pending: list[_Pending] = []
        self._arrived = asyncio.Event()
        self._processor: asyncio.Task[None] | None = None

    # --- lifecycle ----------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start consuming the inbox, watching parked jobs, ticking and refreshing queue positions."""
        await self.publisher.start()
        await self.journal.start()
        self._processor = asyncio.get_running_loop().create_task(self._process_loop(), name="scheduler-inbox")
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
        log.info(
            "scheduler.started",
            quota_per_user=self.settings.quota_per_user,
            quota_global=self.settings.quota_global,
            lease_seconds=self.settings.lease_seconds,
        )

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
            await subscription.cancel()  # deliveries in hand are still handled meanwhile
        self._subscriptions = []
        if self._processor is not None:
            self._processor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._processor
            self._processor = None
        for item in self._pending:  # never handled: left unacked, the broker delivers them again
            item.done.cancel()
        self._pending = []
        await self.publisher.stop()
        await self.journal.stop()

    @property
    def active(self) -> bool:
        """True while inbox deliveries keep arriving: this replica is the active consumer."""
        if self._last_arrival is None:
            return False
        return asyncio.get_running_loop().time() - self._last_arrival <= self.takeover_gap

    # --- the inbox ------------------------------------------------------------------------------------

    async def on_delivery(self, incoming: Incoming) -> None:
        """Take one inbox message into the next batch and wait until that batch is handled."""
        envelope = incoming.envelope
        message = envelope.open()  # InvalidInput: the bus parks it in dead letters
        handler = HANDLERS.get(type(message))
        loop = asyncio.get_running_loop()
        arrival = loop.time()
        if self._last_arrival is None or arrival - self._last_arrival > self.takeover_gap:
            self._takeover_pending = True
        self._last_arrival = arrival
        if handler is None:
            log.warning("scheduler.unhandled_message", type=envelope.type)
            return
        urgent = envelope.type.startswith("job.") or envelope.type == ReconcileTasks.TYPE
        item = _Pending(urgent, envelope, message, handler, loop.create_future())
        self._pending.append(item)
        self._arrived.set()
        await item.done  # the handler's error, if any, decides the bus's outcome for this message

    async def _process_loop(self) -> None:
        while True:
            await self._arrived.wait()
            self._arrived.clear()
            while self._pending:
                batch, self._pending = self._pending, []
                began = time.perf_counter()
                try:
                    await self._handle_batch(batch)
                except asyncio.CancelledError:
                    for item in batch:  # stopping: what was not settled stays unacked, for redelivery
                        item.done.cancel()
                    raise
                except Exception as exc:  # a bug, not a message's fault: every message is retried
                    log.exception("scheduler.batch_failed", size=len(batch))
                    for item in batch:
                        item.error = item.error or exc
                # a batch cut short by a stop is not counted: its messages come again
                self.metrics.inbox_batch_seconds.observe(time.perf_counter() - began)
                self.metrics.inbox_batch_size.observe(len(batch))
                for item in batch:
                    if item.done.done():
                        continue
                    if item.error is None:
                        item.done.set_result(None)
                    else:
                        item.done.set_exception(item.error)

    async def _handle_batch(self, batch: list[_Pending]) -> None:
        """Handle a batch (ticks alone first, then each task's messages in order), then dispatch."""
        batch.sort(key=lambda item: not item.urgent)  # stable: arrival order within each class
        ticks: list[_Pending] = []
        by_task: dict[str, list[_Pending]] = {}
        for item in batch:
            task_id = getattr(item.message, "task_id", None)
            if task_id is None:
                ticks.append(item)
            else:
                by_task.setdefault(task_id, []).append(item)
        async with self.lock:
            if self._takeover_pending:
                try:
                    await self._take_over()
                except Exception as exc:
                    for item in batch:
                        item.error = exc
                    return
            for item in ticks:
                await self._handle_one(item)
            await asyncio.gather(*(self._handle_group(group) for group in by_task.values()))
            # the jobs started are credited to the messages that made room, ended jobs first
            handled = [item for item in batch if item.error is None]
            causes = [item.envelope.message_id for item in handled if item.envelope.type in SLOT_FREEING]
            causes += [item.envelope.message_id for item in handled if item.envelope.type not in SLOT_FREEING]
            ctx = replace(self.ctx, causation_id=causes[0] if causes else None)
            try:
                await self._guarded(dispatch_ready, ctx, causes)
            except Exception as exc:
                for item in batch:
                    item.error = item.error or exc

    async def _handle_group(self, items: list[_Pending]) -> None:
        for item in items:
            await self._handle_one(item)

    async def _handle_one(self, item: _Pending) -> None:
        envelope = item.envelope
        if envelope.message_id in self.seen:
            return
        ctx = replace(self.ctx, causation_id=envelope.message_id)
        if isinstance(item.message, (JobStarted, JobHeartbeat)):
            self._heard_from(item.message)
        with (
            bound_contextvars(task_id=envelope.correlation_id, message_type=envelope.type),
            continued(
                self._trace_of(envelope),
                f"scheduler {envelope.type}",
                tracer=TRACER,
                kind=SpanKind.CONSUMER,
                attributes={"mediacraft.task_id": envelope.correlation_id or "", "mediacraft.type": envelope.type},
                record=envelope.type not in QUIET_TYPES,
            ),
        ):
            try:
                await self._guarded(item.handler, item.message, ctx)
            except Exception as exc:
                item.error = exc
                return
        self.seen.add(envelope.message_id)
        self.handled[envelope.type] += 1

    def _trace_of(self, envelope: Envelope) -> str | None:
        """The trace a message is handled in: its own, else (a publisher without traces) its task's
        as memory keeps it for running and retrying tasks."""
        if envelope.traceparent is not None or envelope.correlation_id is None:
            return envelope.traceparent
        known = self.state.running.get(envelope.correlation_id) or self.state.retrying.get(envelope.correlation_id)
        return known.trace_context if known is not None else None

    def _heard_from(self, event: JobStarted | JobHeartbeat) -> None:
        """Note a worker's sign of life, under the pool of the task it runs (when memory knows it)."""
        run = self.state.running.get(event.task_id)
        if run is None:
            return
        self._workers_heard[event.worker_id] = (POOL_OF_TYPE[run.task_type], asyncio.get_running_loop().time())
        self._task_workers[event.task_id] = event.worker_id
        if isinstance(event, JobStarted) and run.attempt == event.attempt:
            self.journal.worker_started(event.task_id, event.attempt, event.worker_id, self.ctx.clock.now())

    def refresh_metrics(self) -> None:
        """Set the gauges from memory (on the event loop, between awaits: one consistent view).

        A standby (not the active consumer) shows no lines: what it remembers is not kept up.
        """
        active = self.active
        self.metrics.active.set(1 if active else 0)
        if not active:
            self.metrics.clear_lines()
            return
        waiting, running, alive = self._figures()
        self.metrics.set_lines(waiting, running, alive, reasons=WAITING_REASONS)

    def _figures(self) -> tuple[Counter[tuple[str, str]], Counter[str], Counter[str]]:
        """Waiting tasks by (pool, reason), running ones by pool, workers heard from by pool."""
        quotas, usage = self.state.quotas, self.state.usage
        waiting: Counter[tuple[str, str]] = Counter()
        reasons: dict[tuple[str, str], str] = {}  # the reason depends only on user and type
        for entry in self.state.waiting.tasks():
            kind = (entry.user_id, entry.task_type)
            reason = reasons.get(kind)
            if reason is None:
                block = blocked_by(quotas, usage, entry.user_id, entry.task_type)
                reason = reasons[kind] = QUEUED_REASON if block is None else block.value
            waiting[(POOL_OF_TYPE[entry.task_type], reason)] += 1
        running = Counter(POOL_OF_TYPE[run.task_type] for run in self.state.running.values())
        since = asyncio.get_running_loop().time() - self.settings.lease_seconds
        for worker_id, (_, heard) in list(self._workers_heard.items()):
            if heard < since:
                del self._workers_heard[worker_id]
        alive = Counter(pool for pool, _ in self._workers_heard.values())
        return waiting, running, alive

    async def publish_pools(self) -> bool:
        """Write the `scheduler.pools` record for the operator console (the active replica only, at
        most every `pools_record_seconds`); True when written."""
        loop_now = asyncio.get_running_loop().time()
        due = self._pools_written is None or loop_now - self._pools_written >= self.settings.pools_record_seconds
        if not self.active or not due:
            return False
        waiting, running, alive = self._figures()
        quotas = self.state.quotas
        pools = [
            PoolFigures(
                pool=pool,
                waiting=sum(n for (p, _), n in waiting.items() if p == pool),
                waiting_by_reason={reason: n for (p, reason), n in waiting.items() if p == pool},
                running=running[pool],
                workers_alive=alive[pool],
                workers=sorted(w for w, (p, _) in self._workers_heard.items() if p == pool),
            )
            for pool in POOLS
        ]
        snapshot = PoolsSnapshot(
            written_at=self.ctx.clock.now(),
            pools=pools,
            quotas={"per_user": quotas.per_user, "total": quotas.total, "per_pool": dict(quotas.per_pool)},
            running_total=self.state.usage.total,
            workers_by_task=self._running_workers(),
            waiting_total=len(self.state.waiting),
        )
        await self.ctx.store.put_record(POOLS_RECORD, snapshot.model_dump(mode="json"))
        self._pools_written = loop_now
        return True

    def _running_workers(self) -> dict[str, str]:
        """The worker of each running task (as far as heard); forgets tasks no longer running."""
        for task_id in [t for t in self._task_workers if t not in self.state.running]:
            del self._task_workers[task_id]
        return dict(self._task_workers)

    async def _take_over(self) -> None:
        await self._guarded(self._rebuild)
        self._takeover_pending = False
        self.takeovers += 1
        self.refresh_metrics()  # `active` and the figures from now, not from the next tick

    async def _rebuild(self) -> None:
        await apply_stored_quotas(self.ctx)  # an operator's quotas hold from this replica's first dispatch
        await reconcile(self.ctx, takeover=True)
        # A cancel or retry recorded while no scheduler was listening (a broker outage, the
        # predecessor's death) is carried out now rather than at the next periodic reconcile; one
        # younger than its grace is still left to its command.
        await carry_out_requested(self.ctx, await load_controlled(self.ctx.store))

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
                log.warning(
                    "scheduler.step_failed", step=getattr(fn, "__name__", str(fn)), error=repr(exc), retry_in=delay
                )
                await asyncio.sleep(delay)

    # --- timers ---------------------------------------------------------------------------------------

    async def _tick_loop(self) -> None:
        reason = "startup"
        while True:
            try:
                self.refresh_metrics()
            except Exception as exc:  # a gauge is never worth a stopped timer
                log.warning("scheduler.metrics_failed", error=repr(exc))
            try:
                await self.publisher.reconcile(reason)
                reason = "tick"
            except Exception as exc:  # broker down: the next tick tries again
                log.warning("scheduler.tick_not_sent", error=repr(exc))
            try:
                await self._forward_parked_jobs()
            except Exception as exc:
                log.warning("scheduler.dead_letter_watch_failed", error=repr(exc))
            try:
                await self.publish_pools()
            except Exception as exc:  # the console shows the record's age: a missed write is visible
                log.warning("scheduler.pools_record_failed", error=repr(exc))
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
            self.metrics.dead_lettered.inc()
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
                EVENTS,
                JobFailed.TYPE,
                Envelope.wrap(failed, correlation_id=job.task_id, causation_id=envelope.message_id),
            )
            log.warning("scheduler.job_dead_lettered", task_id=job.task_id, attempt=job.attempt, reason=reason)

    async def _reconcile_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.reconcile_seconds)
            if not self.active:
                continue
            try:
                await self.reapply_quotas()
                await self.adopt_lost_tasks()
                await self.carry_out_lost_controls()
            except Exception as exc:
                log.warning("scheduler.reconcile_failed", error=repr(exc))

    async def reapply_quotas(self) -> bool:
        """Apply the stored quota overrides if they changed without their command reaching us."""
        async with self.lock:
            changed = await apply_stored_quotas(self.ctx)
            if changed:
                await self._guarded(dispatch_ready, self.ctx)
        return changed

    async def adopt_lost_tasks(self) -> int:
        """Find active tasks in the store that memory lacks (their message was lost) and schedule them."""
        snapshot = await load_active(self.ctx.store)  # outside the lock: a long read stalls nothing
        async with self.lock:
            adopted = adopt_missing(self.ctx, snapshot)
            if adopted:
                await self._guarded(dispatch_ready, self.ctx)
        return adopted

    async def carry_out_lost_controls(self) -> int:
        """Carry out the cancels and retries recorded on tasks whose commands never arrived."""
        snapshot = await load_controlled(self.ctx.store)  # outside the lock, like adopt_lost_tasks
        if not snapshot:
            return 0
        async with self.lock:
            acted = await carry_out_requested(self.ctx, snapshot)
            if acted:
                await self._guarded(dispatch_ready, self.ctx)
        return acted

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
        current = standings(self.state.waiting, self.state.quotas, self.state.usage)
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
                    transitions.REPOSITION,
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
