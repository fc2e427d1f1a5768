"""One dispatch round starts every task the quotas allow, with their store writes in flight together,
and leaves the counters right when a write fails or a task is no longer waiting."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from mediacraft.scheduler.lifecycle import Context, dispatch_ready, waiting_from
from mediacraft.scheduler.publisher import Publisher
from mediacraft.scheduler.rules import Rules
from mediacraft.scheduler.settings import Settings
from mediacraft.scheduler.state import SchedulerState
from mediacraft.shared import transitions
from mediacraft.shared.adapters.bus.memory import MemoryBus
from mediacraft.shared.adapters.store.sqlite import SqliteStore
from mediacraft.shared.clock import SystemClock, utcnow
from mediacraft.shared.errors import RetryableError
from mediacraft.shared.tasks import InputFile, Task, TaskStatus, TaskType
from mediacraft.shared.topology import build_topology


class FlakyStore(SqliteStore):
    """The real SQLite store, except that transitions of the tasks in `failing` raise as a lost
    database connection would."""

    failing: set[str]

    async def transition(self, task_id: str, *args: Any, **kwargs: Any) -> Task:
        if task_id in self.failing:
            raise RetryableError("the database went away")
        return await super().transition(task_id, *args, **kwargs)


@pytest.fixture
async def ctx(tmp_path: Path) -> AsyncIterator[Context]:
    store = FlakyStore(tmp_path / "tasks.db", synchronous="NORMAL")
    store.failing = set()
    bus = MemoryBus(topology=build_topology())
    await store.start()
    await bus.start()
    publisher = Publisher(bus)
    await publisher.start()
    rules = Rules.from_settings(Settings(quota_per_user=1, quota_global=5))
    yield Context(store, publisher, SystemClock(), SchedulerState(rules.quotas), rules)
    await publisher.stop()
    await bus.close()
    await store.close()


async def queue_tasks(ctx: Context, users: list[str]) -> list[Task]:
    """Queued tasks in the store and in the waiting line, one per entry of `users`."""
    tasks = []
    for user in users:
        task = await ctx.store.insert(
            Task(
                task_id=uuid.uuid4().hex,
                user_id=user,
                task_type=TaskType.VIDEO_MERGE,
                status=TaskStatus.QUEUED,
                created_at=utcnow(),
                submitted_at=utcnow(),
                inputs=[InputFile(key=f"uploads/{user}/in.mp4", original_name="in.mp4", size=1)],
            )
        )
        ctx.state.waiting.push(waiting_from(task))
        tasks.append(task)
    return tasks


async def statuses(ctx: Context, tasks: list[Task]) -> list[TaskStatus]:
    return [(await ctx.store.get(t.task_id)).status for t in tasks]  # type: ignore[union-attr]


async def test_one_round_fills_every_free_slot_and_no_more(ctx: Context) -> None:
    tasks = await queue_tasks(ctx, [f"user{n}" for n in range(8)])

    assert await dispatch_ready(ctx) == 5

    assert await statuses(ctx, tasks) == [TaskStatus.PROCESSING] * 5 + [TaskStatus.QUEUED] * 3
    assert ctx.state.usage.total == 5 and len(ctx.state.running) == 5
    assert len(ctx.state.waiting) == 3
    assert await dispatch_ready(ctx) == 0  # full: nothing more starts, nothing is counted twice
    assert ctx.state.usage.total == 5


async def test_a_failed_write_puts_its_task_back_in_line_and_gives_its_slot_back(ctx: Context) -> None:
    tasks = await queue_tasks(ctx, ["alice", "bob", "carol"])
    ctx.store.failing = {tasks[1].task_id}  # type: ignore[attr-defined]

    with pytest.raises(RetryableError):
        await dispatch_ready(ctx)

    assert await statuses(ctx, tasks) == [TaskStatus.PROCESSING, TaskStatus.QUEUED, TaskStatus.PROCESSING]
    assert ctx.state.usage.total == 2 and set(ctx.state.running) == {tasks[0].task_id, tasks[2].task_id}
    assert tasks[1].task_id in ctx.state.waiting

    ctx.store.failing = set()  # type: ignore[attr-defined]
    assert await dispatch_ready(ctx) == 1
    assert await statuses(ctx, tasks) == [TaskStatus.PROCESSING] * 3
    assert ctx.state.usage.total == 3


async def test_a_task_cancelled_meanwhile_is_dropped_and_its_slot_freed(ctx: Context) -> None:
    tasks = await queue_tasks(ctx, ["alice", "bob"])
    await ctx.store.transition(
        tasks[0].task_id,
        transitions.CANCEL_WAITING,
        expected_version=tasks[0].version,
        changes={"completed_at": utcnow()},
    )

    assert await dispatch_ready(ctx) == 1

    assert await statuses(ctx, tasks) == [TaskStatus.CANCELLED, TaskStatus.PROCESSING]
    assert ctx.state.usage.total == 1 and set(ctx.state.running) == {tasks[1].task_id}
    assert tasks[0].task_id not in ctx.state.waiting
