"""Each task's history for the operator console: one entry per lifecycle step, written off the inbox's path.

The scheduler writes every lifecycle transition after submission, so it is the one place that sees
a task's whole life: each attempt dispatched, the worker that started it, how it ended (completed,
a retry scheduled with its error, put back after a lost worker, failed, cancelled), and a person's
or an operator's retry. Entries are queued as the transitions happen and a background writer
appends them in batches (`TaskStore.append_history`), so the history costs the inbox no store
round trip. It is a record for people, not state: an entry lost with a crash loses nothing the task
document does not hold.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime
from typing import Any

from mediacraft.shared.logging import get_logger
from mediacraft.shared.ports.stores import TaskStore
from mediacraft.shared.tasks import Task, TaskStatus

log = get_logger("mediacraft.scheduler.journal")

S = TaskStatus
_STOP = object()

# (from, to) -> the event's name; any other change is named by its statuses
EVENTS: dict[tuple[TaskStatus | None, TaskStatus], str] = {
    (S.QUEUED, S.PROCESSING): "dispatched",
    (S.PROCESSING, S.COMPLETED): "completed",
    (S.PROCESSING, S.RETRYING): "retry_scheduled",
    (S.PROCESSING, S.QUEUED): "requeued_after_lost_worker",
    (S.RETRYING, S.QUEUED): "retry_due",
    (S.PROCESSING, S.FAILED): "failed",
    (S.PROCESSING, S.CANCELLING): "cancel_requested",
    (S.CANCELLING, S.CANCELLED): "cancelled",
    (S.QUEUED, S.CANCELLED): "cancelled",
    (S.RETRYING, S.CANCELLED): "cancelled",
    (S.FAILED, S.QUEUED): "restarted",
    (S.CANCELLED, S.QUEUED): "restarted",
}


def entry_of(task: Task, previous: TaskStatus | None) -> dict[str, Any] | None:
    """The history entry of a status change (None for a change of queue position only)."""
    if previous == task.status:
        return None
    event = EVENTS.get((previous, task.status), f"{previous.value if previous else 'new'}_to_{task.status.value}")
    at = task.updated_at or task.completed_at or task.started_at or task.created_at
    entry: dict[str, Any] = {
        "task_id": task.task_id,
        "at": at.isoformat(),
        "event": event,
        "status": task.status.value,
        "attempt": task.attempts,
        "retry_count": task.retry_count,
    }
    ended_in_error = task.status in (S.RETRYING, S.FAILED) or event == "requeued_after_lost_worker"
    if ended_in_error and task.error is not None:
        entry["error"] = task.error.model_dump(mode="json")
    if task.next_retry_at is not None and task.status is S.RETRYING:
        entry["next_retry_at"] = task.next_retry_at.isoformat()
    return entry


class Journal:
    """Queues history entries and appends them to the store in the background."""

    def __init__(self, store: TaskStore, *, max_pending: int = 10_000, batch: int = 200) -> None:
        self.store = store
        self._pending: asyncio.Queue[Any] = asyncio.Queue(max_pending)
        self._batch = batch
        self._writer: asyncio.Task[None] | None = None
        self.dropped = 0

    async def start(self) -> None:
        """Start the background writer."""
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._run(), name="task-history")

    async def stop(self) -> None:
        """Write what is queued, then stop."""
        if self._writer is None:
            return
        with contextlib.suppress(asyncio.QueueFull):
            self._pending.put_nowait(_STOP)
        try:
            await asyncio.wait_for(self._writer, timeout=10)
        except TimeoutError:
            self._writer.cancel()
        self._writer = None

    async def flush(self) -> None:
        """Wait until every entry queued so far has been written (or given up)."""
        await self._pending.join()

    def status_changed(self, task: Task, previous: TaskStatus | None) -> None:
        """Note a lifecycle transition of `task`."""
        entry = entry_of(task, previous)
        if entry is not None:
            self._put(entry)

    def worker_started(self, task_id: str, attempt: int, worker_id: str, at: datetime) -> None:
        """Note the worker that took an attempt."""
        self._put(
            {"task_id": task_id, "at": at.isoformat(), "event": "started", "attempt": attempt, "worker": worker_id}
        )

    def _put(self, entry: dict[str, Any]) -> None:
        try:
            self._pending.put_nowait(entry)
        except asyncio.QueueFull:  # the store is far behind: the history is the thing to give up
            self.dropped += 1
            log.warning("scheduler.history_dropped", task_id=entry["task_id"], dropped=self.dropped)

    async def _run(self) -> None:
        while True:
            batch = [await self._pending.get()]
            while len(batch) < self._batch and not self._pending.empty():
                batch.append(self._pending.get_nowait())
            entries = [item for item in batch if item is not _STOP]
            try:
                await self.store.append_history(entries)
            except Exception as exc:  # a record for people: never worth stalling or crashing for
                log.warning("scheduler.history_not_written", entries=len(entries), error=repr(exc))
            for _ in batch:
                self._pending.task_done()
            if len(entries) < len(batch):
                return
