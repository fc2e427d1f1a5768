"""Fair order of waiting tasks: round-robin among users, first come first served within a user.

Users take turns in the order they were last served, least recently first; a user never served
goes first of all, so a newcomer's single task waits for one free slot, however many tasks others
have queued. A user who is served moves to the back; a user held back by a quota keeps its place.
The order survives a user's line running empty: someone whose tasks each start at once is still
the most recently served when their next one has to wait.
Within one user, tasks leave in submission order, except that a task held back only by its own
type's or pool's quota lets that user's next task of another kind go first.
"""

from __future__ import annotations

import bisect
import itertools
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from mediacraft.shared.tasks import TaskType


@dataclass
class WaitingTask:
    """A queued task as the scheduler remembers it; `version` and `attempts` as last seen in the store.

    `position` and `message` are what the store shows a person now, so unchanged ones are not
    written again. `cancel_requested`: the task was read with a person's cancel recorded on it
    (its command late or lost); `version` then already counts that request, so the dispatch
    compare-and-set would not catch it, and the task is cancelled instead of started.
    """

    task_id: str
    user_id: str
    task_type: TaskType
    submitted_at: datetime
    version: int
    attempts: int = 0
    seq: int = field(default=0, compare=False)
    position: int | None = field(default=None, compare=False)
    message: str | None = field(default=None, compare=False)
    cancel_requested: bool = field(default=False, compare=False)
    ready_at: datetime | None = field(default=None, compare=False)  # when it became queued (None: submitted_at)
    front: int | None = field(default=None, compare=False)  # moved to the front by an operator: the n-th time

    @property
    def key(self) -> tuple[float, int]:
        # a task moved to the front sorts before every submission time, the latest move first
        return (-float(self.front) if self.front is not None else self.submitted_at.timestamp(), self.seq)


MAX_REMEMBERED_USERS = 100_000
UserFilter = Callable[[str], bool]
KindFilter = Callable[[str, TaskType], bool]


class FairQueue:
    """Waiting tasks of every user in fair dispatch order."""

    def __init__(self) -> None:
        self._by_id: dict[str, WaitingTask] = {}
        # per user, per task type: sorted (key, task_id) so FIFO survives re-queued retries
        self._lines: dict[str, dict[TaskType, list[tuple[tuple[float, int], str]]]] = {}
        # users with waiting tasks as (last served, joined, user): never served sorts first (0)
        self._turns: list[tuple[int, int, str]] = []
        self._turn_of: dict[str, tuple[int, int, str]] = {}
        self._last_served: dict[str, int] = {}
        self._served_seq = itertools.count(1)
        self._seq = itertools.count(1)
        self._fronts = itertools.count(1)

    def __len__(self) -> int:
        return len(self._by_id)

    def __contains__(self, task_id: object) -> bool:
        return task_id in self._by_id

    def get(self, task_id: str) -> WaitingTask | None:
        """The waiting task with this id, if any."""
        return self._by_id.get(task_id)

    def push(self, task: WaitingTask) -> bool:
        """Add a task to its user's line; False (and no change) when it is already waiting."""
        if task.task_id in self._by_id:
            return False
        task.seq = next(self._seq)
        self._by_id[task.task_id] = task
        user = self._lines.get(task.user_id)
        if user is None:
            user = self._lines[task.user_id] = {}
            self._join(task.user_id)
        bisect.insort(user.setdefault(task.task_type, []), (task.key, task.task_id))
        return True

    def remove(self, task_id: str) -> WaitingTask | None:
        """Take a task out of the line (cancelled, or dispatched elsewhere); None if absent."""
        task = self._by_id.pop(task_id, None)
        if task is None:
            return None
        line = self._lines[task.user_id][task.task_type]
        line.pop(bisect.bisect_left(line, (task.key, task.task_id)))
        self._forget_if_empty(task.user_id, task.task_type)
        return task

    def to_front(self, task_id: str) -> bool:
        """Move a waiting task to the front: its user's turn comes next, and it leaves first in its
        user's line (quotas still apply). False when the task is not waiting."""
        task = self.remove(task_id)
        if task is None:
            return False
        front = next(self._fronts)
        task.front = front
        self.push(task)
        self._leave(task.user_id)
        turn = (-front, next(self._seq), task.user_id)  # before every user, never served ones included
        bisect.insort(self._turns, turn)
        self._turn_of[task.user_id] = turn
        return True

    def pop_next(self, user_ok: UserFilter, kind_ok: KindFilter) -> WaitingTask | None:
        """Remove and return the next task to start, or None when every waiting task is held."""
        for user_id in self.turn_order():
            if not user_ok(user_id):
                continue
            heads = [line[0] for kind, line in self._lines[user_id].items() if line and kind_ok(user_id, kind)]
            if not heads:
                continue
            task = self._by_id[min(heads)[1]]
            self.remove(task.task_id)
            self._mark_served(user_id)
            return task
        return None

    def turn_order(self) -> list[str]:
        """Users with waiting tasks, in the order they get their next turn."""
        return [user for _, _, user in self._turns]

    def user_line(self, user_id: str) -> list[WaitingTask]:
        """One user's waiting tasks in the order they would leave."""
        kinds = self._lines.get(user_id, {})
        merged = sorted(itertools.chain.from_iterable(kinds.values()))
        return [self._by_id[task_id] for _, task_id in merged]

    def projected_order(self, limit: int | None = None) -> Iterator[WaitingTask]:
        """Waiting tasks in the order pure round-robin would start them (quotas not simulated)."""
        turns = deque((user, iter(self.user_line(user))) for user in self.turn_order())
        produced = 0
        while turns and (limit is None or produced < limit):
            user, line = turns.popleft()
            task = next(line, None)
            if task is None:
                continue
            produced += 1
            yield task
            turns.append((user, line))

    def count_for_user(self, user_id: str) -> int:
        """How many tasks this user has waiting."""
        return sum(len(line) for line in self._lines.get(user_id, {}).values())

    def tasks(self) -> list[WaitingTask]:
        """Every waiting task, in no particular order."""
        return list(self._by_id.values())

    def clear(self) -> None:
        """Forget everything (before a rebuild from the store)."""
        self._by_id.clear()
        self._lines.clear()
        self._turns.clear()
        self._turn_of.clear()

    def _join(self, user_id: str) -> None:
        turn = (self._last_served.get(user_id, 0), next(self._seq), user_id)
        bisect.insort(self._turns, turn)
        self._turn_of[user_id] = turn

    def _leave(self, user_id: str) -> None:
        turn = self._turn_of.pop(user_id, None)
        if turn is not None:
            self._turns.pop(bisect.bisect_left(self._turns, turn))

    def _mark_served(self, user_id: str) -> None:
        self._last_served[user_id] = next(self._served_seq)
        if len(self._last_served) > MAX_REMEMBERED_USERS:
            self._forget_oldest_served()
        if user_id in self._lines:
            self._leave(user_id)
            self._join(user_id)

    def _forget_oldest_served(self) -> None:
        # users long gone lose their place in history and count as never served when they return
        keep = sorted(self._last_served.items(), key=lambda item: item[1])[-MAX_REMEMBERED_USERS // 2 :]
        self._last_served = dict(keep)

    def _forget_if_empty(self, user_id: str, kind: TaskType) -> None:
        kinds = self._lines[user_id]
        if not kinds[kind]:
            del kinds[kind]
        if not kinds:
            del self._lines[user_id]
            self._leave(user_id)
