"""Why cleanup removes something: a stable code for logs and metrics, and words for people."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum


class Reason(StrEnum):
    RETENTION_COMPLETED = "retention_completed"
    RETENTION_FAILED = "retention_failed"
    RETENTION_CANCELLED = "retention_cancelled"
    HIDDEN = "hidden"
    DRAFT_ABANDONED = "draft_abandoned"
    ORPHAN_NO_TASK = "orphan_no_task"
    ORPHAN_UNREFERENCED = "orphan_unreferenced"
    ORPHAN_TASK_EXPIRED = "orphan_task_expired"
    ORPHAN_BAD_KEY = "orphan_bad_key"
    MULTIPART_STALE = "multipart_stale"
    USER_STALE = "user_stale"


EXPLANATIONS: dict[Reason, str] = {
    Reason.RETENTION_COMPLETED: "the task completed longer ago than completed tasks are kept",
    Reason.RETENTION_FAILED: "the task failed longer ago than failed tasks are kept",
    Reason.RETENTION_CANCELLED: "the task was cancelled longer ago than cancelled tasks are kept",
    Reason.HIDDEN: "the user removed the task (finished, or a draft) from their list",
    Reason.DRAFT_ABANDONED: "a draft that was not submitted in time",
    Reason.ORPHAN_NO_TASK: "no task has the id in this key (left by a crash or an abandoned upload)",
    Reason.ORPHAN_UNREFERENCED: "its task does not use this file (an earlier attempt's output, a replaced upload)",
    Reason.ORPHAN_TASK_EXPIRED: "its task has expired, so its files should already be gone",
    Reason.ORPHAN_BAD_KEY: "the key does not follow the storage layout and no task uses it",
    Reason.MULTIPART_STALE: "an upload that never finished",
    Reason.USER_STALE: "an anonymous identity not seen for longer than its cookie lives, whose tasks have all expired",
}


def explain(reason: Reason) -> str:
    """One sentence an operator reads in the log."""
    return EXPLANATIONS[reason]


def human_duration(value: timedelta) -> str:
    """`7 days`, `24 hours`, `1 day`, `90 minutes`: the largest whole unit that fits exactly."""
    seconds = int(value.total_seconds())
    for unit, size in (("day", 86_400), ("hour", 3_600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} second{'s' if seconds != 1 else ''}"
