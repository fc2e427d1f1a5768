"""Leases, progress projection, reconcile of lost messages, and parked jobs with their replay."""

from __future__ import annotations

from typing import Any

from mediacraft.scheduler.dead_letters import list_parked, replay
from mediacraft.scheduler.leases import WORKER_NOT_STARTED
from mediacraft.scheduler.service import JOB_DEAD_LETTERED
from mediacraft.shared.messages import RunJob, TaskProgressed, TaskStatusChanged
from mediacraft.shared.ports.bus import Incoming
from mediacraft.shared.tasks import TaskStatus
from mediacraft.shared.topology import EVENTS
from tests.fixtures.fake_workers import behaviour
from tests.fixtures.waiting import eventually
from tests.integration.scheduler.conftest import HarnessFactory


async def test_a_worker_gone_silent_loses_its_lease_and_the_task_runs_again_at_once(
    harness_factory: HarnessFactory,
) -> None:
    harness = await harness_factory(lease_seconds=1.0)
    await harness.start_scheduler()
    pool = await harness.start_workers()
    task_id = await harness.add_task("alice", behaviour("hang", times=1))
    done = await harness.wait_status(task_id, TaskStatus.COMPLETED, timeout=5)
    # no retry used and no retry delay waited: the lost attempt cost only its lease
    assert (done.attempts, done.retry_count, done.lost_redispatches) == (2, 0, 1)
    assert done.error is None
    assert [r.attempt for r in pool.started(task_id)] == [1, 2]


async def test_progress_only_moves_forward_and_reaches_live_views(harness_factory: HarnessFactory) -> None:
    harness = await harness_factory(progress_throttle_seconds=0.0)
    await harness.start_scheduler()
    pool = await harness.start_workers()
    events: list[Any] = []

    async def collect(incoming: Incoming) -> None:
        events.append(incoming.envelope.open())

    live = await harness.client.declare_private_queue([(EVENTS, "task.#")])
    await harness.client.consume(live, collect, prefetch=50)
    steps = [[10, "download", 100], [80, "process", 70], [60, "process", 40]]  # the last one arrives late
    task_id = await harness.add_task("alice", behaviour("progress", steps=steps, hold="go"))

    async def progressed() -> bool:
        return any(isinstance(e, TaskProgressed) and e.progress == 80 for e in events)

    await eventually(progressed, what="80% published")
    await pool.wait_until(lambda: len(pool.running) == 1)
    task = await harness.task(task_id)
    assert (task.progress, task.stage) == (80, "process")
    assert [(s.name, s.status, s.progress) for s in task.subtasks] == [
        ("download", "completed", 100),
        ("process", "running", 70),
    ]
    pool.release("go")
    done = await harness.wait_status(task_id, TaskStatus.COMPLETED)
    assert done.progress == 100 and done.result is not None
    assert done.result.key == f"results/{task_id}/1/result.bin"

    async def completed_seen() -> bool:
        return any(isinstance(e, TaskStatusChanged) and e.status == TaskStatus.COMPLETED for e in events)

    await eventually(completed_seen, what="completion published")
    mine = [e for e in events if e.task_id == task_id]
    statuses = [e.status for e in mine if isinstance(e, TaskStatusChanged)]
    assert statuses[:1] == [TaskStatus.PROCESSING] and statuses[-1] == TaskStatus.COMPLETED
    percents = [e.progress for e in mine if isinstance(e, TaskProgressed)]
    assert percents == sorted(percents) and 60 not in percents


async def test_a_queued_task_whose_submit_message_was_lost_is_found_and_run(harness_factory: HarnessFactory) -> None:
    harness = await harness_factory(reconcile_seconds=0.5)
    await harness.start_scheduler()
    await harness.start_workers()
    task_id = await harness.add_task("alice", behaviour("noop"), publish=False)
    done = await harness.wait_status(task_id, TaskStatus.COMPLETED, timeout=5)
    assert done.attempts == 1


async def test_a_job_that_keeps_crashing_workers_is_parked_fails_its_task_and_can_be_replayed(
    harness_factory: HarnessFactory,
) -> None:
    harness = await harness_factory(delivery_limit=3)
    await harness.start_scheduler()
    pool = await harness.start_workers()
    task_id = await harness.add_task("alice", behaviour("crash", times=1))
    failed = await harness.wait_status(task_id, TaskStatus.FAILED, timeout=10)
    assert failed.error is not None and failed.error.code == JOB_DEAD_LETTERED
    assert "set aside" in (failed.error_message or "")
    assert len(pool.started(task_id)) == 3  # the delivery limit: three deliveries in all

    parked = await list_parked(harness.client)  # type: ignore[arg-type]
    assert [(p.type, p.task_id) for p in parked] == [(RunJob.TYPE, task_id)]
    assert await list_parked(harness.client) == parked  # type: ignore[arg-type]  # listing keeps them

    report = await replay(harness.client)  # type: ignore[arg-type]
    assert report.jobs_restarted == [task_id]
    done = await harness.wait_status(task_id, TaskStatus.COMPLETED, timeout=10)
    assert (done.attempts, done.retry_count) == (2, 0)
    assert await list_parked(harness.client) == []  # type: ignore[arg-type]


async def test_jobs_waiting_for_a_busy_worker_are_not_taken_for_lost(harness_factory: HarnessFactory) -> None:
    # three slots but one worker: the third job waits in the pool's queue longer than a lease
    harness = await harness_factory(lease_seconds=1.0, quota_global=3, quota_per_user=3)
    await harness.start_scheduler()
    pool = await harness.start_workers(concurrency=1)
    task_ids = [await harness.add_task("alice", behaviour("sleep", seconds=0.7)) for _ in range(3)]
    done = await harness.wait_terminal(task_ids, timeout=15)
    assert [(t.status, t.attempts, t.retry_count) for t in done] == [(TaskStatus.COMPLETED, 1, 0)] * 3
    assert sorted(r.task_id for r in pool.started()) == sorted(task_ids)  # each ran once


async def test_a_job_no_worker_takes_is_retried_after_the_start_timeout(harness_factory: HarnessFactory) -> None:
    harness = await harness_factory(lease_seconds=0.5, start_timeout_seconds=1.0)
    await harness.start_scheduler()
    task_id = await harness.add_task("alice")  # no worker of its pool is running
    retrying = await harness.wait_status(task_id, TaskStatus.RETRYING, timeout=5)
    assert retrying.error is not None and retrying.error.code == WORKER_NOT_STARTED
    assert retrying.error_message == "No worker took the task within 1 second."
    await harness.start_workers()
    done = await harness.wait_status(task_id, TaskStatus.COMPLETED, timeout=10)
    assert (done.attempts, done.retry_count) == (2, 1)
