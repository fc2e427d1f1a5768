"""Fair order: round-robin among users, FIFO within a user, newcomers first, held users keep place."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mediacraft.scheduler.fairness import FairQueue, WaitingTask
from mediacraft.shared.tasks import TaskType

T0 = datetime(2026, 1, 1, tzinfo=UTC)
MERGE = TaskType.VIDEO_MERGE
WATERMARK = TaskType.WATERMARK_REMOVAL


def waiting(task_id: str, user: str, at: float = 0, kind: TaskType = MERGE) -> WaitingTask:
    return WaitingTask(task_id, user, kind, T0 + timedelta(seconds=at), version=1)


def everyone(_user: str) -> bool:
    return True


def every_kind(_user: str, _kind: TaskType) -> bool:
    return True


def drain(queue: FairQueue) -> list[str]:
    order = []
    while (task := queue.pop_next(everyone, every_kind)) is not None:
        order.append(task.task_id)
    return order


def test_users_take_turns_and_each_user_is_first_come_first_served() -> None:
    queue = FairQueue()
    for i in range(3):
        queue.push(waiting(f"a{i}", "alice", at=i))
    for i in range(2):
        queue.push(waiting(f"b{i}", "bob", at=10 + i))
    queue.push(waiting("c0", "carol", at=20))
    assert drain(queue) == ["a0", "b0", "c0", "a1", "b1", "a2"]


def test_a_newcomer_with_one_task_goes_next_behind_a_thousand_of_anothers() -> None:
    queue = FairQueue()
    for i in range(1000):
        queue.push(waiting(f"a{i}", "alice", at=i))
    assert queue.pop_next(everyone, every_kind).task_id == "a0"  # type: ignore[union-attr]
    queue.push(waiting("b0", "bob", at=5000))
    assert queue.pop_next(everyone, every_kind).task_id == "b0"  # type: ignore[union-attr]
    assert queue.pop_next(everyone, every_kind).task_id == "a1"  # type: ignore[union-attr]


def test_a_user_held_by_quota_keeps_its_turn_for_the_next_free_slot() -> None:
    queue = FairQueue()
    queue.push(waiting("a0", "alice", at=0))
    queue.push(waiting("b0", "bob", at=1))
    queue.push(waiting("b1", "bob", at=2))
    busy = {"alice"}
    first = queue.pop_next(lambda u: u not in busy, every_kind)
    assert first is not None and first.task_id == "b0"
    busy.clear()
    assert drain(queue) == ["a0", "b1"]


def test_a_requeued_retry_goes_back_to_its_place_in_the_users_line() -> None:
    queue = FairQueue()
    queue.push(waiting("a1", "alice", at=10))
    queue.push(waiting("a2", "alice", at=20))
    queue.push(waiting("a0", "alice", at=0))  # submitted first, back from a retry
    assert [t.task_id for t in queue.user_line("alice")] == ["a0", "a1", "a2"]
    assert drain(queue) == ["a0", "a1", "a2"]


def test_a_kind_held_by_its_quota_lets_the_users_next_kind_go_first() -> None:
    queue = FairQueue()
    queue.push(waiting("a0", "alice", at=0, kind=MERGE))
    queue.push(waiting("a1", "alice", at=1, kind=WATERMARK))
    task = queue.pop_next(everyone, lambda _u, kind: kind != MERGE)
    assert task is not None and task.task_id == "a1"
    assert queue.pop_next(everyone, lambda _u, kind: kind != MERGE) is None
    assert drain(queue) == ["a0"]


def test_push_is_idempotent_and_remove_forgets_an_emptied_user() -> None:
    queue = FairQueue()
    assert queue.push(waiting("a0", "alice"))
    assert not queue.push(waiting("a0", "alice"))
    assert len(queue) == 1 and "a0" in queue
    assert queue.remove("a0") is not None
    assert queue.remove("a0") is None
    assert queue.turn_order() == [] and len(queue) == 0


def test_projected_order_matches_the_order_of_dispatch() -> None:
    queue = FairQueue()
    for i in range(4):
        queue.push(waiting(f"a{i}", "alice", at=i))
    queue.pop_next(everyone, every_kind)
    for i in range(2):
        queue.push(waiting(f"b{i}", "bob", at=10 + i))
    projected = [t.task_id for t in queue.projected_order()]
    assert projected[:3] == [t.task_id for t in list(queue.projected_order(3))]
    assert projected == drain(queue)


def test_a_user_served_while_their_line_was_empty_still_goes_after_a_newcomer() -> None:
    queue = FairQueue()
    for i in range(3):  # each of alice's tasks starts at once: her line empties every time
        queue.push(waiting(f"a{i}", "alice", at=i))
        assert queue.pop_next(everyone, every_kind) is not None
    queue.push(waiting("a3", "alice", at=3))
    queue.push(waiting("b0", "bob", at=4))
    assert queue.turn_order() == ["bob", "alice"]
    assert drain(queue) == ["b0", "a3"]
