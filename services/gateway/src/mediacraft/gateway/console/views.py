"""What the operator console shows of a task: a row for the search results, and the full record with
its history (attempts, retries, timings, worker, error, trace)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mediacraft.shared.tasks import ACTIVE_STATUSES, TERMINAL_STATUSES, Task, TaskStatus


def row(task: Task) -> dict[str, Any]:
    """One search result."""
    return {
        "task_id": task.task_id,
        "user_id": task.user_id,
        "task_type": task.task_type.value,
        "status": task.status.value,
        "attempts": task.attempts,
        "retry_count": task.retry_count,
        "error_code": task.error.code if task.error else None,
        "created_at": task.created_at.isoformat(),
        "updated_at": task.updated_at.isoformat() if task.updated_at else None,
        "queue_position": task.queue_position,
        "progress": task.progress,
        "message": task.message,
        "hidden": task.hidden,
    }


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return round(max(0.0, (end - start).total_seconds()), 3)


def history(task: Task, *, now: datetime, worker: str | None) -> dict[str, Any]:
    """The task's life as the store knows it: attempts, retries, timings, worker, last error, trace id.

    Timings: `waited_seconds` from submission to the start of the current series' last attempt;
    `ran_seconds` from that start to the end (or to now while it runs). `worker` is the worker the
    scheduler last heard running it (running tasks only). `trace_id` is the task's trace when it
    carries one.
    """
    running = task.status in (TaskStatus.PROCESSING, TaskStatus.CANCELLING)
    end = task.completed_at or (now if running else None)
    return {
        "attempts": task.attempts,
        "retry_count": task.retry_count,
        "max_retries": task.max_retries,
        "lost_redispatches": task.lost_redispatches,
        "next_retry_at": task.next_retry_at.isoformat() if task.next_retry_at else None,
        "created_at": task.created_at.isoformat(),
        "submitted_at": task.submitted_at.isoformat() if task.submitted_at else None,
        "started_at": task.started_at.isoformat() if task.started_at else None,
        "completed_at": task.completed_at.isoformat() if task.completed_at else None,
        "waited_seconds": _seconds(task.submitted_at, task.started_at),
        "ran_seconds": _seconds(task.started_at, end),
        "total_seconds": _seconds(task.submitted_at, task.completed_at),
        "worker": worker if running else None,
        "error": task.error.model_dump(mode="json") if task.error else None,
        "control": task.control.model_dump(mode="json") if task.control else None,
        "trace_id": _trace_id(task),
    }


def _trace_id(task: Task) -> str | None:
    value = getattr(task, "trace_id", None) or task.metadata.get("trace_id")
    return str(value) if value else None


ENDINGS = {
    "completed": "completed",
    "retry_scheduled": "retry scheduled",
    "requeued_after_lost_worker": "worker lost, queued again",
    "failed": "failed",
    "cancelled": "cancelled",
}


def attempts(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each attempt from the scheduler's history entries: when it was dispatched, started (by which
    worker) and ended, how, after how long, and with which error."""
    by_attempt: dict[int, dict[str, Any]] = {}
    for event in events:
        number = event.get("attempt")
        if not isinstance(number, int) or number < 1:
            continue
        item = by_attempt.setdefault(number, {"attempt": number, "worker": None, "outcome": None, "error": None})
        name, at = event.get("event"), event.get("at")
        if name == "dispatched":
            item["dispatched_at"] = at
        elif name == "started":
            item["started_at"], item["worker"] = at, event.get("worker")
        elif name in ENDINGS:
            item["ended_at"], item["outcome"] = at, ENDINGS[name]
            item["error"] = event.get("error")
    for item in by_attempt.values():
        begun = item.get("started_at") or item.get("dispatched_at")
        item["seconds"] = _seconds(_parse(begun), _parse(item.get("ended_at")))
    return [by_attempt[n] for n in sorted(by_attempt)]


def _parse(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def detail(
    task: Task, *, now: datetime, worker: str | None, events: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The full record for the console: the stored document, its history, and what may be done."""
    events = events or []
    return {
        **row(task),
        "document": task.to_doc(),
        "history": history(task, now=now, worker=worker),
        "attempts": attempts(events),
        "events": [{k: v for k, v in e.items() if k != "task_id"} for e in events],
        "can": {
            "cancel": task.status not in TERMINAL_STATUSES and task.status is not TaskStatus.CANCELLING,
            "retry": task.status in (TaskStatus.FAILED, TaskStatus.CANCELLED) and task.submitted_at is not None,
            "prioritise": task.status is TaskStatus.QUEUED,
        },
        "active": task.status in ACTIVE_STATUSES,
    }
