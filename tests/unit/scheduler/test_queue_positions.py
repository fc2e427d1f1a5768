"""Queue positions and the sentences a person reads while a task waits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mediacraft.scheduler.fairness import FairQueue, WaitingTask
from mediacraft.scheduler.queue_positions import Standing, standings
from mediacraft.scheduler.quotas import Quotas, Usage
from mediacraft.shared.admission import SYSTEM_BUSY_MESSAGE, USER_BUSY_MESSAGE
from mediacraft.shared.tasks import TaskType

T0 = datetime(2026, 1, 1, tzinfo=UTC)
MERGE = TaskType.VIDEO_MERGE


def test_positions_follow_round_robin_and_messages_say_why() -> None:
    queue = FairQueue()
    for i in range(3):
        queue.push(WaitingTask(f"a{i}", "alice", MERGE, T0 + timedelta(seconds=i), 1))
    queue.push(WaitingTask("b0", "bob", MERGE, T0 + timedelta(seconds=9), 1))
    usage = Usage()
    usage.add("alice", MERGE)  # alice runs one; bob runs none but the system has 1 slot
    result = standings(queue, Quotas(per_user=1, total=1), usage)
    assert result == {
        "a0": Standing(1, USER_BUSY_MESSAGE),
        "b0": Standing(2, SYSTEM_BUSY_MESSAGE),
        "a1": Standing(3, USER_BUSY_MESSAGE),
        "a2": Standing(4, USER_BUSY_MESSAGE),
    }


def test_positions_can_be_limited_to_the_head_of_the_line() -> None:
    queue = FairQueue()
    for i in range(10):
        queue.push(WaitingTask(f"a{i}", "alice", MERGE, T0 + timedelta(seconds=i), 1))
    assert list(standings(queue, Quotas(), Usage(), limit=3)) == ["a0", "a1", "a2"]
