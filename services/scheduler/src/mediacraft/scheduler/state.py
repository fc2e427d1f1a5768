"""The active scheduler's memory: who waits, who runs, who waits for a retry (no I/O).

The store stays the source of truth; this is a cache of the active tasks rebuilt from it on
start, on becoming the active consumer, and on every reconcile.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime

from mediacraft.scheduler.detections import DetectionSlots
from mediacraft.scheduler.fairness import FairQueue, WaitingTask
from mediacraft.scheduler.quotas import Quotas, Usage, blocked_by, user_block
from mediacraft.shared.tasks import SubTask, TaskType

ENDED_MEMORY = 20_000


@dataclass
class RunningTask:
    """A dispatched attempt holding a slot until it ends, is cancelled, or its lease lapses."""

    task_id: str
    user_id: str
    task_type: TaskType
    attempt: int
    version: int
    started_at: datetime
    lease_expires_at: datetime
    retry_count: int = 0
    max_retries: int | None = None  # as written at dispatch; None: the rules' budget
    lost_redispatches: int = 0
    stored_lease: datetime | None = None
    cancelling: bool = False
    progress: float = 0.0
    stage: str | None = None
    subtasks: list[SubTask] = field(default_factory=list)
    eta_seconds: float | None = None
    message: str | None = None  # the worker's latest plain words, written with progress
    progress_written_at: datetime | None = None
    progress_dirty: bool = False
    worker_started: bool = True  # False from dispatch until the first news from a worker
    # read with a person's cancel recorded on it (its command late or lost): the attempt's end is
    # a cancel, whatever the worker reports, as the compare-and-set on `version` cannot tell
    cancel_requested: bool = False
    trace_context: str | None = None  # the task's trace, for what the scheduler does on time alone
    stop_sent_at: datetime | None = None  # the last stop signal sent to its worker (cancelling)


@dataclass
class RetryingTask:
    """A task waiting out a retry delay; the reconcile requeues it if the delayed message is lost."""

    task_id: str
    user_id: str
    attempt: int
    next_retry_at: datetime
    trace_context: str | None = None  # the task's trace, for a requeue after the message was lost


class SchedulerState:
    """Waiting line, running slots and quota counters, kept consistent with each other."""

    def __init__(self, quotas: Quotas) -> None:
        self.quotas = quotas
        self.waiting = FairQueue()
        self.running: dict[str, RunningTask] = {}
        self.retrying: dict[str, RetryingTask] = {}
        self.usage = Usage()
        self.holding = False  # set while the process drains before a stop: start nothing new
        self._ended: OrderedDict[str, None] = OrderedDict()
        self.detections = DetectionSlots()  # detection jobs: outside the quotas, their own cap

    def mark_ended(self, task_id: str) -> None:
        """Remember that a task ended here, so a store snapshot read before that does not revive it."""
        self._ended[task_id] = None
        self._ended.move_to_end(task_id)
        if len(self._ended) > ENDED_MEMORY:
            self._ended.popitem(last=False)

    def ended_recently(self, task_id: str) -> bool:
        """Whether this task ended here lately."""
        return task_id in self._ended

    def knows(self, task_id: str) -> bool:
        """Whether the task waits, runs or waits for a retry in memory."""
        return task_id in self.waiting or task_id in self.running or task_id in self.retrying

    def start(self, run: RunningTask, *, reserved: bool = False) -> None:
        """Occupy a slot for a dispatched attempt (`reserved`: counted already by `reserve`)."""
        if run.task_id in self.running:
            raise ValueError(f"task {run.task_id} already holds a slot")
        self.running[run.task_id] = run
        if not reserved:
            self.usage.add(run.user_id, run.task_type)

    def reserve(self, task: WaitingTask) -> None:
        """Count a slot for a task being dispatched, before its store write returns."""
        self.usage.add(task.user_id, task.task_type)

    def unreserve(self, task: WaitingTask) -> None:
        """Give back a reserved slot whose dispatch did not happen."""
        self.usage.remove(task.user_id, task.task_type)

    def release(self, task_id: str) -> RunningTask | None:
        """Free a task's slot; a second release of the same task is a no-op."""
        run = self.running.pop(task_id, None)
        if run is not None:
            self.usage.remove(run.user_id, run.task_type)
        return run

    def next_to_start(self) -> WaitingTask | None:
        """Take the next waiting task that the quotas let start now, in fair order."""
        if self.holding:
            return None
        return self.waiting.pop_next(
            lambda user: user_block(self.quotas, self.usage, user) is None,
            lambda user, kind: blocked_by(self.quotas, self.usage, user, kind) is None,
        )

    def forget(self, task_id: str) -> None:
        """Drop a task from the waiting line and retry list (not from running: use release)."""
        self.waiting.remove(task_id)
        self.retrying.pop(task_id, None)

    def clear(self) -> None:
        """Forget everything before a rebuild."""
        self.waiting.clear()
        self.running.clear()
        self.retrying.clear()
        self.usage = Usage()

    def running_for_user(self, user_id: str) -> int:
        """How many slots this user holds."""
        return self.usage.by_user[user_id]
