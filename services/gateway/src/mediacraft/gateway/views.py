"""What clients see of a task: the brief's field names, never storage keys or internal leases."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mediacraft.shared.tasks import ACTIVE_STATUSES, DRAFT_STATUSES, TERMINAL_STATUSES, Task, TaskStatus

# Fields of the stored document a client never needs, or must not see (keys, lease, fingerprint);
# of the trace context, only the trace id is shown (`trace_id`: what an operator looks a task up by).
_HIDDEN = frozenset({"lease_expires_at", "fingerprint", "inputs", "result", "metadata", "trace_context"})
_STATUS_GROUPS = {"draft": DRAFT_STATUSES, "active": ACTIVE_STATUSES, "terminal": TERMINAL_STATUSES}


def task_view(task: Task) -> dict[str, Any]:
    """The public JSON of one task."""
    doc = task.model_dump(mode="json", exclude=set(_HIDDEN))  # datetimes come out as ISO 8601, "Z" for UTC
    doc["inputs"] = [
        {
            "index": i,
            "original_name": item.original_name,
            "size": item.size,
            "media": item.media.model_dump(mode="json", exclude_none=True) if item.media else None,
        }
        for i, item in enumerate(task.inputs)
    ]
    doc["result"] = (
        {
            "size": task.result.size,
            "filename": task.result.filename,
            "content_type": task.result.content_type,
            "media": task.result.media.model_dump(mode="json", exclude_none=True) if task.result.media else None,
        }
        if task.result
        else None
    )
    doc["finished"] = task.status in TERMINAL_STATUSES
    doc["trace_id"] = task.trace_id
    doc["download_url"] = (
        f"/api/tasks/{task.task_id}/download"
        if task.status is TaskStatus.COMPLETED and task.result is not None
        else None
    )
    return doc


def progress_view(payload: dict[str, Any]) -> dict[str, Any]:
    """The public JSON of a progress event (already free of internal fields)."""
    keys = ("task_id", "progress", "stage", "subtasks", "eta_seconds", "message", "version")
    return {k: payload.get(k) for k in keys}


def last_change(task: Task) -> datetime:
    """The latest instant the task is known to have changed."""
    stamps = [task.created_at, task.updated_at, task.submitted_at, task.started_at, task.completed_at]
    return max(s for s in stamps if s is not None)


def status_group(name: str) -> frozenset[TaskStatus] | None:
    """The statuses of a named group (draft, active, terminal), or None for a plain status name."""
    return _STATUS_GROUPS.get(name)
