"""Faults on real RabbitMQ with real processes: a scheduler killed, a worker killed, the broker
restarted, a poison job that kills its worker on every delivery.

The broker restart runs on a private node (`tests.fixtures.drill_broker`), never on the shared one."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from mediacraft.scheduler.dead_letters import JOB_DEAD_LETTERED
from mediacraft.scheduler.leases import WORKER_LOST
from mediacraft.shared.messages import TaskStatusChanged
from mediacraft.shared.ports.bus import Incoming
from mediacraft.shared.tasks import TERMINAL_STATUSES, TaskStatus
from mediacraft.shared.topology import EVENTS
from tests.fixtures.drill_broker import DrillBroker
from tests.fixtures.fake_workers import JobRun, behaviour, read_runs
from tests.fixtures.waiting import eventually
from tests.integration.scheduler.harness import Harness, StoreSampler, make_harness
from tests.integration.scheduler.processes import (
    Process,
    settings_env,
    start_scheduler,
    start_worker_pool,
)

pytestmark = [pytest.mark.slow, pytest.mark.drill]

QUOTAS = {"quota_per_user": 1, "quota_global": 3}


@pytest.fixture
async def harness(tmp_path: Path, rabbit_vhost_url: str) -> AsyncIterator[Harness]:
    h = await make_harness(tmp_path, "rabbit", url=rabbit_vhost_url, **QUOTAS)
    yield h
    await h.close()


@pytest.fixture
async def drill_harness(tmp_path: Path, drill_vhost_url: str) -> AsyncIterator[Harness]:
    h = await make_harness(tmp_path, "rabbit", url=drill_vhost_url, **QUOTAS)
    yield h
    await h.close()


def scheduler_env(harness: Harness, url: str) -> dict[str, str]:
    return settings_env(harness.settings, bus_url=url, store_url=f"sqlite:///{harness.store.path}")


def mixed_workload() -> list[tuple[str, dict[str, Any]]]:
    """Five users, forty tasks: quick ones, slower ones, and ones that fail once and retry."""
    work = []
    for i in range(40):
        kind = i % 4
        spec = (
            behaviour("sleep", seconds=0.4)
            if kind == 0
            else behaviour("fail", times=1)
            if kind == 1
            else behaviour("sleep", seconds=0.15)
        )
        work.append((f"user{i % 5}", spec))
    return work


async def completed_count(harness: Harness) -> int:
    return len(await harness.store.list_by_status([TaskStatus.COMPLETED], limit=1000))


async def states_present(harness: Harness, *wanted: TaskStatus) -> bool:
    """True when the store holds at least one task in each wanted status at once."""
    tasks = await harness.store.list_by_status(wanted, limit=1000)
    return {t.status for t in tasks} >= set(wanted)


def assert_each_ran_to_one_success(runs: list[JobRun], task_ids: list[str]) -> None:
    """Every task succeeded exactly once on the workers and no two runs of a task overlapped."""
    by_task: dict[str, list[JobRun]] = defaultdict(list)
    for run in runs:
        by_task[run.task_id].append(run)
    for task_id in task_ids:
        mine = sorted(by_task[task_id], key=lambda r: r.started)
        assert [r.outcome for r in mine].count("job.succeeded") == 1, (task_id, mine)
        for earlier, later in pairwise(mine):
            assert earlier.ended is not None and earlier.ended <= later.started, (task_id, mine)


async def test_killing_the_active_scheduler_lets_the_standby_finish_every_task_once(
    harness: Harness,
    rabbit_vhost_url: str,
    processes: list[Process],
    tmp_path: Path,
    drill_record: Callable[[str, Any], None],
) -> None:
    env = scheduler_env(harness, rabbit_vhost_url)
    active = start_scheduler("scheduler-a", env, tmp_path)
    processes.append(active)
    await active.wait_for('"takeover": true')  # it got the first delivery: it is the active one
    standby = start_scheduler("scheduler-b", env, tmp_path)
    processes.append(standby)
    await standby.wait_for("scheduler.started")
    pool = await harness.start_workers(concurrency=10)
    terminal_events: dict[str, list[TaskStatus]] = defaultdict(list)

    async def collect(incoming: Incoming) -> None:
        event = incoming.envelope.open()
        if isinstance(event, TaskStatusChanged) and event.status in TERMINAL_STATUSES:
            terminal_events[event.task_id].append(event.status)

    live = await harness.client.declare_private_queue([(EVENTS, "task.status_changed")])
    await harness.client.consume(live, collect, prefetch=100)

    async with StoreSampler(harness) as sampler:
        ids = [await harness.add_task(user, spec) for user, spec in mixed_workload()]
        await eventually(
            lambda: states_present(harness, TaskStatus.QUEUED, TaskStatus.PROCESSING, TaskStatus.RETRYING),
            timeout=20,
            interval=0.01,
            what="tasks queued, running and retrying at once",
        )
        active.kill()
        killed = asyncio.get_running_loop().time()
        await standby.wait_for('"takeover": true', timeout=20)
        drill_record("standby took over after (s)", asyncio.get_running_loop().time() - killed)
        tasks = await harness.wait_terminal(ids, timeout=60)
    drill_record("tasks", len(ids))
    drill_record("completed", sum(t.status is TaskStatus.COMPLETED for t in tasks))
    drill_record("peak per user / total", f"{sampler.peak_per_user} / {sampler.peak_total}")
    assert {t.status for t in tasks} == {TaskStatus.COMPLETED}
    assert sampler.peak_per_user <= 1 and sampler.peak_total <= 3
    assert pool.peak.per_user <= 1 and pool.peak.total <= 3
    assert_each_ran_to_one_success(pool.runs, ids)

    async def all_events_in() -> bool:
        return len(terminal_events) == len(ids)

    await eventually(all_events_in, what="a terminal event for every task")
    assert all(statuses == [TaskStatus.COMPLETED] for statuses in terminal_events.values())


async def test_a_worker_killed_mid_job_is_noticed_by_its_lease_and_the_task_completes(
    harness: Harness,
    rabbit_vhost_url: str,
    processes: list[Process],
    tmp_path: Path,
    drill_record: Callable[[str, Any], None],
) -> None:
    await harness.start_scheduler()
    record = tmp_path / "runs.jsonl"
    worker = start_worker_pool(
        "worker-1", bus_url=rabbit_vhost_url, settings=harness.settings, record=record, log_dir=tmp_path
    )
    processes.append(worker)
    await worker.wait_for("ready")
    task_id = await harness.add_task("alice", behaviour("sleep", seconds=60, times=1))

    async def started() -> bool:
        return any(r.task_id == task_id for r in read_runs(record))

    await eventually(started, what="the job running on the worker process")
    worker.kill()
    killed_at = asyncio.get_running_loop().time()

    async def dispatched_again() -> Any:
        task = await harness.task(task_id)
        return task if task.attempts == 2 else None

    # lost with its worker: out again at once, without a retry delay and without using a retry
    again = await eventually(dispatched_again, timeout=10, what="the next attempt dispatched")
    drill_record("dispatched again after the kill (s)", asyncio.get_running_loop().time() - killed_at)
    drill_record("retries used", again.retry_count)
    assert again.error is not None and again.error.code == WORKER_LOST and again.retry_count == 0
    pool = await harness.start_workers()  # a new worker comes up
    done = await harness.wait_status(task_id, TaskStatus.COMPLETED, timeout=15)
    assert (done.attempts, done.retry_count) == (2, 0)
    killed = [r for r in read_runs(record) if r.task_id == task_id]
    assert [(r.attempt, r.ended) for r in killed] == [(1, None)]  # died mid-job
    assert any(r.attempt == 2 and r.outcome == "job.succeeded" for r in pool.started(task_id))


async def test_a_broker_restart_with_tasks_in_every_state_loses_nothing(
    drill_harness: Harness,
    drill_vhost_url: str,
    drill_broker: DrillBroker,
    processes: list[Process],
    tmp_path: Path,
    drill_record: Callable[[str, Any], None],
) -> None:
    harness = drill_harness
    scheduler = start_scheduler("scheduler", scheduler_env(harness, drill_vhost_url), tmp_path)
    processes.append(scheduler)
    await scheduler.wait_for('"takeover": true')
    pool = await harness.start_workers(concurrency=10)
    async with StoreSampler(harness) as sampler:
        ids = [await harness.add_task(user, spec) for user, spec in mixed_workload()]
        await eventually(
            lambda: states_present(harness, TaskStatus.QUEUED, TaskStatus.PROCESSING, TaskStatus.RETRYING),
            timeout=20,
            interval=0.01,
            what="tasks queued, running and retrying at once",
        )
        completed_before = await completed_count(harness)
        await asyncio.to_thread(drill_broker.stop_app)
        back = asyncio.get_running_loop().time()  # from the start of the broker's start
        await asyncio.to_thread(drill_broker.start_app)

        async def resumed() -> bool:
            return await completed_count(harness) > completed_before

        await eventually(resumed, timeout=15, interval=0.05, what="a task completed after the broker came back")
        drill_record("work resumed after broker start (s)", asyncio.get_running_loop().time() - back)
        tasks = await harness.wait_terminal(ids, timeout=90)
    drill_record("tasks", len(ids))
    drill_record("completed", sum(t.status is TaskStatus.COMPLETED for t in tasks))
    drill_record("peak per user / total", f"{sampler.peak_per_user} / {sampler.peak_total}")
    assert {t.status for t in tasks} == {TaskStatus.COMPLETED}
    assert sampler.peak_per_user <= 1 and sampler.peak_total <= 3
    succeeded = {r.task_id for r in pool.runs if r.outcome == "job.succeeded"}
    assert succeeded == set(ids)
    assert scheduler.popen.poll() is None  # it rode the outage out


async def test_a_poison_job_is_parked_after_its_deliveries_while_other_users_tasks_complete(
    tmp_path: Path, rabbit_vhost_url: str, drill_record: Callable[[str, Any], None]
) -> None:
    delivery_limit = 3
    harness = await make_harness(tmp_path, "rabbit", url=rabbit_vhost_url, delivery_limit=delivery_limit, **QUOTAS)
    try:
        await harness.start_scheduler()
        pool = await harness.start_workers(concurrency=3)
        poison = await harness.add_task("mallory", behaviour("crash", times=1000))  # kills its worker every time
        others = [await harness.add_task(f"user{i % 3}", behaviour("sleep", seconds=0.2)) for i in range(9)]
        started = asyncio.get_running_loop().time()
        failed = await harness.wait_status(poison, TaskStatus.FAILED, timeout=30)
        drill_record("poison task failed after (s)", asyncio.get_running_loop().time() - started)
        drill_record("deliveries of the poison job", len(pool.started(poison)))
        done = await harness.wait_terminal(others, timeout=60)
        drill_record(
            "other users' tasks completed", f"{sum(t.status is TaskStatus.COMPLETED for t in done)}/{len(others)}"
        )
        assert failed.error is not None and failed.error.code == JOB_DEAD_LETTERED
        assert failed.error_message and "set aside" in failed.error_message
        assert len(pool.started(poison)) == delivery_limit  # parked after exactly the configured deliveries
        assert {t.status for t in done} == {TaskStatus.COMPLETED}
    finally:
        await harness.close()
