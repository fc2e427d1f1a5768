"""Scheduler memory: slots are taken and released exactly once, and quotas gate the next start."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mediacraft.scheduler.fairness import WaitingTask
from mediacraft.scheduler.quotas import Quotas
from mediacraft.scheduler.state import RunningTask, SchedulerState
from mediacraft.shared.tasks import TaskType

T0 = datetime(2026, 1, 1, tzinfo=UTC)
MERGE = TaskType.VIDEO_MERGE


def running(task: WaitingTask) -> RunningTask:
    return RunningTask(task.task_id, task.user_id, task.task_type, 1, 2, T0, T0)


def test_next_to_start_respects_quotas_and_a_release_frees_the_slot_once() -> None:
    state = SchedulerState(Quotas(per_user=1, total=2))
    for task_id, user in (("a0", "alice"), ("a1", "alice"), ("b0", "bob"), ("c0", "carol")):
        state.waiting.push(WaitingTask(task_id, user, MERGE, T0, 1))
    started = []
    while (task := state.next_to_start()) is not None:
        state.start(running(task))
        started.append(task.task_id)
    assert started == ["a0", "b0"]
    assert state.release("a0") is not None
    assert state.release("a0") is None
    assert state.usage.total == 1
    nxt = state.next_to_start()
    assert nxt is not None and nxt.task_id == "c0"


def test_a_task_cannot_hold_two_slots() -> None:
    state = SchedulerState(Quotas())
    task = WaitingTask("a0", "alice", MERGE, T0, 1)
    state.start(running(task))
    with pytest.raises(ValueError):
        state.start(running(task))
    assert state.usage.total == 1


def test_a_holding_state_starts_nothing_until_released() -> None:
    """While the process drains before a stop, waiting tasks stay waiting."""
    state = SchedulerState(Quotas())
    state.waiting.push(WaitingTask("a0", "alice", MERGE, T0, 1))
    state.holding = True
    assert state.next_to_start() is None
    state.holding = False
    nxt = state.next_to_start()
    assert nxt is not None and nxt.task_id == "a0"
