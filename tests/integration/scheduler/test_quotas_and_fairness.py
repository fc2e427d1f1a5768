"""Quotas hold under load, seen from the store and from the workers; a newcomer waits one slot."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from mediacraft.shared.admission import SYSTEM_BUSY_MESSAGE, USER_BUSY_MESSAGE
from mediacraft.shared.tasks import TaskStatus, TaskType
from tests.fixtures.fake_workers import behaviour
from tests.fixtures.waiting import eventually
from tests.integration.scheduler.conftest import HarnessFactory
from tests.integration.scheduler.harness import StoreSampler


@pytest.mark.slow
async def test_ten_users_two_hundred_tasks_never_exceed_their_quotas(harness_factory: HarnessFactory) -> None:
    harness = await harness_factory(quota_per_user=1, quota_global=5)
    await harness.start_scheduler()
    pool = await harness.start_workers(concurrency=10)
    users = [f"user{i}" for i in range(10)]
    owners = [users[i % 10] for i in range(200)]
    random.Random(4).shuffle(owners)
    async with StoreSampler(harness) as sampler:
        ids = [await harness.add_task(user, behaviour("sleep", seconds=0.01)) for user in owners]
        tasks = await harness.wait_terminal(ids, timeout=90)
    assert {t.status for t in tasks} == {TaskStatus.COMPLETED}
    assert sampler.samples > 20
    assert 1 <= sampler.peak_per_user <= 1 and 1 <= sampler.peak_total <= 5
    assert pool.peak.per_user == 1 and 2 <= pool.peak.total <= 5
    runs = Counter(r.task_id for r in pool.runs)
    assert set(runs) == set(ids) and set(runs.values()) == {1}  # each ran once


async def test_a_single_task_behind_another_users_hundred_starts_at_the_next_free_slot(
    harness_factory: HarnessFactory,
) -> None:
    harness = await harness_factory(quota_per_user=3, quota_global=3)
    await harness.start_scheduler()
    pool = await harness.start_workers(concurrency=10)
    alice = [await harness.add_task("alice", behaviour("wait")) for _ in range(100)]
    await pool.wait_until(lambda: len(pool.running) == 3)
    bob = await harness.add_task("bob", behaviour("wait"))

    async def standings() -> tuple[tuple[int | None, str | None], ...]:
        first, last = await harness.task(bob), await harness.task(alice[-1])
        return (first.queue_position, first.message), (last.queue_position, last.message)

    async def shown() -> bool:
        # positions are refreshed a budget at a time, so they converge over a few refreshes
        return await standings() == ((1, SYSTEM_BUSY_MESSAGE), (98, USER_BUSY_MESSAGE))

    try:
        await eventually(shown, what="bob first in line, alice's last 98th")
    except AssertionError:
        raise AssertionError(f"standings shown: {await standings()}") from None

    first_alice = pool.runs[0].task_id
    pool.release(first_alice)
    await pool.wait_until(lambda: len(pool.runs) == 4)
    assert pool.runs[3].task_id == bob  # the very next start after one slot freed

    for task_id in [*alice, bob]:
        pool.release(task_id)
    tasks = await harness.wait_terminal([*alice, bob], timeout=60)
    assert {t.status for t in tasks} == {TaskStatus.COMPLETED}
    assert pool.peak.total == 3


async def test_a_type_quota_holds_its_type_while_other_types_run(harness_factory: HarnessFactory) -> None:
    harness = await harness_factory(quota_per_user=5, quota_global=5, quota_per_type={"video_merge": 1})
    await harness.start_scheduler()
    merges = await harness.start_workers(pool="merge")
    watermarks = await harness.start_workers(pool="watermark")
    merge_ids = [await harness.add_task(f"user{i}", behaviour("wait")) for i in range(3)]
    mark = await harness.add_task("user0", behaviour("noop"), task_type=TaskType.WATERMARK_REMOVAL)
    await harness.wait_status(mark, TaskStatus.COMPLETED)  # another type goes past the held merges
    await merges.wait_until(lambda: len(merges.running) == 1)
    held = [await harness.task(task_id) for task_id in merge_ids]
    assert sorted(t.status for t in held) == [TaskStatus.PROCESSING, TaskStatus.QUEUED, TaskStatus.QUEUED]
    for task_id in merge_ids:
        merges.release(task_id)
    tasks = await harness.wait_terminal(merge_ids)
    assert {t.status for t in tasks} == {TaskStatus.COMPLETED}
    assert merges.peak.total == 1 and len(watermarks.runs) == 1
