"""Prometheus metrics of one scheduler, in a registry of its own (served on its metrics port).

Counters and histograms are recorded where things happen (lifecycle steps, the inbox loop, the
dead-letter watch); the gauges of what waits and runs are set from the scheduler's memory on the
event loop (`SchedulerService.refresh_metrics`, every tick), never read from the scrape thread.
Every figure is this replica's: a standby's waiting and running gauges are empty (its memory is
not kept up), and each replica sees every parked job (each has its own dead-letter queue), so sum
counters over replicas but take `max` of `mediacraft_scheduler_dead_lettered_total`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from prometheus_client import Counter, Gauge, Histogram, generate_latest

from mediacraft.shared.metrics_server import new_registry
from mediacraft.shared.tasks import POOL_OF_TYPE

PREFIX = "mediacraft_scheduler_"
POOLS = tuple(sorted(set(POOL_OF_TYPE.values())))
# seconds from ready to dispatched: immediate when a slot is free, minutes behind a busy quota
_DISPATCH_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
_BATCH_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
_BATCH_SECONDS_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class SchedulerMetrics:
    """What an operator watches of the scheduler; names are prefixed mediacraft_scheduler_."""

    def __init__(self) -> None:
        self.registry = r = new_registry()
        p = PREFIX
        self.tasks_waiting = Gauge(
            p + "tasks_waiting",
            "Tasks waiting in this replica's line, by pool and why they wait (user_busy: the user's own"
            " quota; system_busy: the global, type or pool quota; queued: only behind others' turns)",
            ["pool", "reason"],
            registry=r,
        )
        self.tasks_running = Gauge(
            p + "tasks_running", "Tasks holding a slot (dispatched, running or cancelling)", ["pool"], registry=r
        )
        self.dispatch_latency = Histogram(
            p + "dispatch_latency_seconds",
            "From a task becoming ready (submitted, requeued after a retry wait or a lost worker,"
            " restarted) to its job being dispatched",
            ["pool"],
            buckets=_DISPATCH_BUCKETS,
            registry=r,
        )
        self.retries_scheduled = Counter(
            p + "retries_scheduled_total",
            "Failed attempts put back for another try, by error code (after a retry delay, or at once"
            " for a lost worker)",
            ["code"],
            registry=r,
        )
        self.task_failures = Counter(
            p + "task_failures_total", "Tasks that ended failed, by error code", ["code"], registry=r
        )
        self.tasks_completed = Counter(p + "tasks_completed_total", "Tasks that ended completed", ["pool"], registry=r)
        self.lease_lapses = Counter(p + "lease_lapses_total", "Running attempts whose lease ran out", registry=r)
        self.dead_lettered = Counter(
            p + "dead_lettered_total",
            "Parked jobs this replica saw and failed their tasks for (every replica sees each one)",
            registry=r,
        )
        self.inbox_batch_size = Histogram(
            p + "inbox_batch_size",
            "Inbox messages handled together in one batch",
            buckets=_BATCH_SIZE_BUCKETS,
            registry=r,
        )
        self.inbox_batch_seconds = Histogram(
            p + "inbox_batch_seconds",
            "Time to handle one inbox batch, its dispatch round included",
            buckets=_BATCH_SECONDS_BUCKETS,
            registry=r,
        )
        self.active = Gauge(p + "active", "1 while this replica is the inbox's active consumer, else 0", registry=r)
        self.workers_alive = Gauge(
            p + "workers_alive",
            "Distinct workers heard from (job started or heartbeat) within the lease; an idle worker"
            " sends nothing the scheduler sees",
            ["pool"],
            registry=r,
        )
        for pool in POOLS:  # every pool's series exists from the start, at zero
            self.tasks_running.labels(pool)
            self.workers_alive.labels(pool)
            self.tasks_completed.labels(pool)
            self.dispatch_latency.labels(pool)
        self.active.set(0)

    def set_lines(
        self,
        waiting: Mapping[tuple[str, str], int],
        running: Mapping[str, int],
        alive: Mapping[str, int],
        *,
        reasons: Iterable[str],
    ) -> None:
        """Set the gauges of what waits, runs and works (every pool and reason, zero when none)."""
        for pool in POOLS:
            for reason in reasons:
                self.tasks_waiting.labels(pool, reason).set(waiting.get((pool, reason), 0))
            self.tasks_running.labels(pool).set(running.get(pool, 0))
            self.workers_alive.labels(pool).set(alive.get(pool, 0))

    def clear_lines(self) -> None:
        """A standby shows no lines: its memory is not kept up."""
        self.tasks_waiting.clear()
        self.tasks_running.clear()
        self.workers_alive.clear()

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)
