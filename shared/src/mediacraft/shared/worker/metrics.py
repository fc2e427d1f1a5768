"""Prometheus metrics of one worker pool's runtimes, in a registry of their own (served on the
worker's metrics port; the runtimes of one process share it).

Outcomes, durations and waits are recorded by the runtime as jobs end; whether each runtime takes
jobs and its scratch space are read from `describe()` when Prometheus scrapes (plain attributes,
read from the scrape thread). prometheus-client comes with shared's `metrics` extra, which the
worker services install.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from mediacraft.shared.metrics_server import new_registry

PREFIX = "mediacraft_worker_"
OUTCOMES = ("succeeded", "failed", "cancelled", "handed_back")
# jobs run from seconds (an image) to the run-time limit (a long video)
_DURATION_BUCKETS = (0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 900, 1200, 1800, 3600)
_WAIT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)


class WorkerMetrics:
    """What an operator watches of a pool's workers; names are prefixed mediacraft_worker_."""

    def __init__(self, pool: str) -> None:
        self.pool = pool
        self.registry = r = new_registry()
        p = PREFIX
        self.jobs = Counter(
            p + "jobs_total",
            "Jobs that ended here, by outcome (handed_back: given back unrun or unfinished for another"
            " worker: shutting down, short of scratch space, or out of the broker's reach)",
            ["pool", "outcome"],
            registry=r,
        )
        self.duration = Histogram(
            p + "job_duration_seconds",
            "From a job's start to its outcome (succeeded, failed or cancelled), by task type and method",
            ["pool", "task_type", "method"],
            buckets=_DURATION_BUCKETS,
            registry=r,
        )
        self.queue_wait = Histogram(
            p + "queue_wait_seconds",
            "From the scheduler's publish of a job (its envelope time) to a worker starting it",
            ["pool"],
            buckets=_WAIT_BUCKETS,
            registry=r,
        )
        self.failures = Counter(
            p + "failures_total", "Jobs that ended failed, by error code", ["pool", "code"], registry=r
        )
        self.cancellations = Counter(p + "cancellations_total", "Jobs that ended cancelled", ["pool"], registry=r)
        for outcome in OUTCOMES:  # every outcome's series exists from the start, at zero
            self.jobs.labels(pool, outcome)
        self.cancellations.labels(pool)
        self.queue_wait.labels(pool)
        self._runtimes = _RuntimeCollector(pool)
        r.register(self._runtimes)

    def watch(self, describe: Callable[[], dict[str, Any]]) -> None:
        """Read a runtime's state (`describe()`) at every scrape."""
        self._runtimes.add(describe)

    def ended(self, outcome: str, *, task_type: str | None = None, method: str = "", seconds: float | None = None,
              code: str | None = None) -> None:  # fmt: skip
        """Count a job's end; `seconds` from its start when it ran to an outcome."""
        self.jobs.labels(self.pool, outcome).inc()
        if seconds is not None and task_type is not None:
            self.duration.labels(self.pool, task_type, method).observe(seconds)
        if outcome == "failed":
            self.failures.labels(self.pool, code or "").inc()
        elif outcome == "cancelled":
            self.cancellations.labels(self.pool).inc()

    def started(self, waited_seconds: float) -> None:
        """A job started after waiting this long since it was published."""
        self.queue_wait.labels(self.pool).observe(max(0.0, waited_seconds))

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)


class _RuntimeCollector(Collector):
    """Whether each runtime takes jobs and its scratch space, read when Prometheus scrapes."""

    def __init__(self, pool: str) -> None:
        self.pool = pool
        self._lock = threading.Lock()
        self._describes: list[Callable[[], dict[str, Any]]] = []

    def add(self, describe: Callable[[], dict[str, Any]]) -> None:
        with self._lock:
            self._describes.append(describe)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        labels = ["pool", "worker"]
        taking = GaugeMetricFamily(
            PREFIX + "taking_jobs",
            "1 while the worker takes jobs (0: short of scratch space or stopping)",
            labels=labels,
        )
        used = GaugeMetricFamily(
            PREFIX + "scratch_bytes", "Bytes under the worker's work dir (0 on the system temp dir)", labels=labels
        )
        free = GaugeMetricFamily(
            PREFIX + "scratch_free_bytes",
            "Free bytes of the worker's scratch space at its last look (before each job and while short)",
            labels=labels,
        )
        with self._lock:
            describes = list(self._describes)
        for describe in describes:
            state = describe()
            worker = [self.pool, str(state["worker_id"])]
            taking.add_metric(worker, 1.0 if state["taking_jobs"] else 0.0)
            used.add_metric(worker, float(state["scratch_bytes"] or 0))
            if state["scratch_free_bytes"] is not None:
                free.add_metric(worker, float(state["scratch_free_bytes"]))
        yield taking
        yield used
        yield free

    def describe(self) -> list[Any]:
        """Nothing to describe ahead of a scrape (the registry then asks `collect` only when scraped)."""
        return []
