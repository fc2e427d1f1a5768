"""What happens to one task in a pass, decided from the task, the time and the retention policy.

Pure: no store, no object store. The pass acts on the decision with a compare-and-set, so a task
that changed after it was read (a retry, a submit) is left alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from mediacraft.cleanup.reasons import Reason, human_duration
from mediacraft.shared.tasks import ACTIVE_STATUSES, DRAFT_STATUSES, Task, TaskStatus

_RETENTION_REASON = {
    TaskStatus.COMPLETED: Reason.RETENTION_COMPLETED,
    TaskStatus.FAILED: Reason.RETENTION_FAILED,
    TaskStatus.CANCELLED: Reason.RETENTION_CANCELLED,
}


class Action(StrEnum):
    KEEP = "keep"
    EXPIRE = "expire"  # delete the files, keep the record marked expired
    DELETE_DRAFT = "delete_draft"  # delete the files and the record


@dataclass(frozen=True)
class ExpiryPolicy:
    """How long files are kept: per finished status, and for drafts since their last change."""

    retention: Mapping[TaskStatus, timedelta]
    draft_max_age: timedelta

    def retention_for(self, status: TaskStatus) -> timedelta:
        return self.retention[status]


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: Reason | None = None
    due_at: datetime | None = None  # when a kept task becomes due, if it ever does


KEEP = Decision(Action.KEEP)


def finished_at(task: Task) -> datetime:
    """When a finished task finished (older records may lack completed_at)."""
    return task.completed_at or task.updated_at or task.created_at


def last_activity(task: Task) -> datetime:
    """When a draft last changed: created, or a file uploaded."""
    return max(task.created_at, task.updated_at or task.created_at)


def is_claimed_draft(task: Task) -> bool:
    """A draft that a pass marked expired but did not get to delete (it was never submitted)."""
    return task.status is TaskStatus.EXPIRED and task.submitted_at is None


def decide(task: Task, now: datetime, policy: ExpiryPolicy) -> Decision:
    """Keep, expire or delete `task`; a task that may be running is always kept."""
    if task.status in ACTIVE_STATUSES:
        # queued, processing, retrying, cancelling: an attempt may be reading its inputs right now
        return KEEP
    if task.status in DRAFT_STATUSES:
        if task.hidden:
            return Decision(Action.DELETE_DRAFT, Reason.HIDDEN, now)  # the user deleted it; nothing runs
        due = last_activity(task) + policy.draft_max_age
        if now >= due:
            return Decision(Action.DELETE_DRAFT, Reason.DRAFT_ABANDONED, due)
        return Decision(Action.KEEP, due_at=due)
    if task.status is TaskStatus.EXPIRED:
        return Decision(Action.DELETE_DRAFT, Reason.DRAFT_ABANDONED) if is_claimed_draft(task) else KEEP
    if task.hidden:
        return Decision(Action.EXPIRE, Reason.HIDDEN, now)
    due = finished_at(task) + policy.retention_for(task.status)
    if now >= due:
        return Decision(Action.EXPIRE, _RETENTION_REASON[task.status], due)
    return Decision(Action.KEEP, due_at=due)


def expired_message(task: Task, reason: Reason, policy: ExpiryPolicy) -> str:
    """What the user reads on an expired task."""
    if reason is Reason.DRAFT_ABANDONED:
        return f"This draft was removed because it was not submitted within {human_duration(policy.draft_max_age)}."
    if reason is Reason.HIDDEN:
        return "The files of this task were deleted because you removed it from your list."
    kept = human_duration(policy.retention_for(task.status))
    if task.status is TaskStatus.COMPLETED:
        return f"The result file has expired and was deleted: results are kept for {kept}."
    return f"The uploaded files have expired and were deleted: {task.status.value} tasks are kept for {kept}."
