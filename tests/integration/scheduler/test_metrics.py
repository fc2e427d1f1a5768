"""The scheduler's metrics agree with what happened: a real scheduler on the memory bus runs tasks
that complete, retry, fail, lose their worker and get parked, and its registry then counts exactly
those, read back from the store; its own metrics endpoint serves the lines of tasks waiting and
running while they wait and run."""

from __future__ import annotations

import asyncio
import re
import socket
import urllib.request
from collections import Counter
from collections.abc import Mapping
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from mediacraft.scheduler.leases import WORKER_LOST
from mediacraft.scheduler.main import Scheduler
from mediacraft.scheduler.metrics import SchedulerMetrics
from mediacraft.scheduler.service import JOB_DEAD_LETTERED, SchedulerService
from mediacraft.shared.tasks import TaskStatus
from tests.fixtures.fake_workers import behaviour
from tests.fixtures.waiting import eventually
from tests.integration.scheduler.conftest import HarnessFactory

pytestmark = pytest.mark.parametrize("bus_kind", ["memory"])

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
CREATED = re.compile(r"^\w+_created[{ ]", re.MULTILINE)  # a sample line of a `_created` series


def value(metrics: SchedulerMetrics, name: str, **labels: str) -> float:
    """A sample's value; 0 for a series that does not exist (never counted)."""
    found = metrics.registry.get_sample_value(name, labels)
    return 0.0 if found is None else float(found)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scrape(port: int) -> tuple[str, Samples]:
    """The text served on the port, and every sample in it by name and labels (blocking)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    return text, samples


async def test_counters_and_histograms_agree_with_the_tasks_in_the_store(harness_factory: HarnessFactory) -> None:
    harness = await harness_factory(delivery_limit=3, quota_global=5)
    scheduler = await harness.start_scheduler()
    await harness.start_workers()
    plan: dict[str, dict[str, Any]] = {
        "alice": behaviour("noop"),
        "bob": behaviour("fail", times=1, code="backend_unavailable"),  # one retry, then done
        "carol": behaviour("fail", retryable=False, code="invalid_media", message="Not a video."),
        "dave": behaviour("hang", times=1),  # its lease lapses, it runs again at once
        "erin": behaviour("crash", times=1),  # parked after the delivery limit: fails its task
    }
    task_ids = {user: await harness.add_task(user, config) for user, config in plan.items()}
    tasks = {t.task_id: t for t in await harness.wait_terminal(task_ids.values(), timeout=30)}
    by_user = {user: tasks[task_id] for user, task_id in task_ids.items()}
    assert [by_user[u].status for u in plan] == [
        TaskStatus.COMPLETED,
        TaskStatus.COMPLETED,
        TaskStatus.FAILED,
        TaskStatus.COMPLETED,
        TaskStatus.FAILED,
    ]
    m = scheduler.metrics

    # what ended how, as the store says
    completed = sum(1 for t in tasks.values() if t.status == TaskStatus.COMPLETED)
    assert value(m, "mediacraft_scheduler_tasks_completed_total", pool="merge") == completed == 3
    failures = Counter(t.error.code for t in tasks.values() if t.status == TaskStatus.FAILED and t.error)
    assert failures == {"invalid_media": 1, JOB_DEAD_LETTERED: 1}
    for code, count in failures.items():
        assert value(m, "mediacraft_scheduler_task_failures_total", code=code) == count
    # retries: bob's after a delay (retry_count), dave's at once for a lost worker (lost_redispatches)
    assert (by_user["bob"].retry_count, by_user["dave"].lost_redispatches) == (1, 1)
    assert value(m, "mediacraft_scheduler_retries_scheduled_total", code="backend_unavailable") == 1
    assert value(m, "mediacraft_scheduler_retries_scheduled_total", code=WORKER_LOST) == 1
    retried = sum(t.retry_count + t.lost_redispatches for t in tasks.values())
    assert sum(s.value for s in _samples(m, "mediacraft_scheduler_retries_scheduled_total")) == retried
    assert value(m, "mediacraft_scheduler_lease_lapses_total") == 1  # dave's first attempt
    assert value(m, "mediacraft_scheduler_dead_lettered_total") == 1  # erin's job

    # one dispatch latency per dispatch: every attempt of every task
    dispatches = sum(t.attempts for t in tasks.values())
    assert dispatches == 7  # bob 2, dave 2, the others 1
    assert value(m, "mediacraft_scheduler_dispatch_latency_seconds_count", pool="merge") == dispatches
    assert value(m, "mediacraft_scheduler_dispatch_latency_seconds_sum", pool="merge") >= 0

    # batches: between batches (the lock), every message handled was in exactly one counted batch
    async with scheduler.lock:
        batches = value(m, "mediacraft_scheduler_inbox_batch_size_count")
        assert batches >= 1
        assert value(m, "mediacraft_scheduler_inbox_batch_seconds_count") == batches
        assert value(m, "mediacraft_scheduler_inbox_batch_size_sum") == sum(scheduler.handled.values())

    scheduler.refresh_metrics()
    assert value(m, "mediacraft_scheduler_active") == 1
    assert value(m, "mediacraft_scheduler_tasks_running", pool="merge") == 0
    for reason in ("user_busy", "system_busy", "queued"):
        assert value(m, "mediacraft_scheduler_tasks_waiting", pool="merge", reason=reason) == 0


def _samples(metrics: SchedulerMetrics, name: str) -> list[Any]:
    return [s for family in metrics.registry.collect() for s in family.samples if s.name == name]


async def test_the_metrics_port_serves_what_waits_and_runs_and_why(harness_factory: HarnessFactory) -> None:
    harness = await harness_factory(quota_global=2, quota_per_user=1)
    port = free_port()
    settings = harness.settings.model_copy(update={"metrics_host": "127.0.0.1", "metrics_port": port})
    service = SchedulerService(settings=settings, bus=await harness.buses.new(), store=harness.store)
    part = Scheduler(settings, service)
    await part.start()
    try:
        pool = await harness.start_workers()
        held = behaviour("wait", key="hold")
        ids = [await harness.add_task("alice", held), await harness.add_task("alice", held)]
        ids.append(await harness.add_task("bob", held))
        await pool.wait_until(lambda: len(pool.running) == 2, timeout=10)
        ids.append(await harness.add_task("carol", held))  # both slots are taken: it waits

        def lines(samples: Samples) -> dict[str, float]:
            def get(name: str, **labels: str) -> float:
                return samples.get((name, tuple(sorted(labels.items()))), -1.0)

            return {
                "running": get("mediacraft_scheduler_tasks_running", pool="merge"),
                "user_busy": get("mediacraft_scheduler_tasks_waiting", pool="merge", reason="user_busy"),
                "system_busy": get("mediacraft_scheduler_tasks_waiting", pool="merge", reason="system_busy"),
                "queued": get("mediacraft_scheduler_tasks_waiting", pool="merge", reason="queued"),
                "workers": get("mediacraft_scheduler_workers_alive", pool="merge"),
                "active": get("mediacraft_scheduler_active"),
            }

        busy = {"running": 2, "user_busy": 1, "system_busy": 1, "queued": 0, "workers": 1, "active": 1}

        async def served(wanted: Mapping[str, float]) -> tuple[str, Samples] | None:
            text, samples = await asyncio.to_thread(scrape, port)
            shown = lines(samples)
            return (text, samples) if all(shown[k] == v for k, v in wanted.items()) else None

        # alice's second task waits behind her own running one; carol's behind the global quota
        text, _ = await eventually(lambda: served(busy), timeout=10, what=f"the busy lines {busy}")
        assert not CREATED.search(text)  # no `<name>_created` series
        assert "# TYPE mediacraft_scheduler_dispatch_latency_seconds histogram" in text

        pool.release("hold")
        await harness.wait_terminal(ids, timeout=20)
        # the worker counts as alive for a lease after its last heartbeat: not compared here
        idle = {"running": 0, "user_busy": 0, "system_busy": 0, "queued": 0, "active": 1}
        _, samples = await eventually(lambda: served(idle), timeout=10, what=f"the idle lines {idle}")
        count = ("mediacraft_scheduler_dispatch_latency_seconds_count", (("pool", "merge"),))
        assert samples[count] == len(ids)  # each ran once
        completed = ("mediacraft_scheduler_tasks_completed_total", (("pool", "merge"),))
        assert samples[completed] == len(ids)
    finally:
        await part.stop()
    with pytest.raises(OSError):  # the port is closed with the scheduler
        await asyncio.to_thread(scrape, port)
