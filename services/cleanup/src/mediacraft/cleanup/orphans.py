"""Which stored objects no task uses, decided from an index of every task, the object and the time.

Pure: the pass builds the index from one scan of the store, then classifies each listed object.
An object is never an orphan while it is younger than the grace period (an upload that is not
attached to its draft yet, a result whose success event is still on its way), nor while any task
lists its key, nor while it sits under the folders of a task that may still write there: a draft
(uploads arrive) or a queued/running one (an attempt writes its result before the scheduler
records it). Tasks handled earlier in the same pass are left to that step.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from mediacraft.cleanup.reasons import Reason
from mediacraft.shared.object_keys import parse_key
from mediacraft.shared.ports.objects import ObjectInfo
from mediacraft.shared.tasks import ACTIVE_STATUSES, DRAFT_STATUSES, Task, TaskStatus


@dataclass(frozen=True)
class TaskFiles:
    """What the orphan check needs to know of one task."""

    user_id: str
    protect_all: bool  # everything under the task's folders stays
    expired: bool


class TaskIndex:
    """Every task of one scan by id, and every key a live task lists."""

    def __init__(self) -> None:
        self._tasks: dict[str, TaskFiles] = {}
        self._referenced: set[str] = set()

    def add(self, task: Task, *, handled: bool = False) -> None:
        """Index `task`; `handled`: the pass deals with its files itself (expiry, draft removal)."""
        may_write = task.status in DRAFT_STATUSES or task.status in ACTIVE_STATUSES
        expired = task.status is TaskStatus.EXPIRED
        self._tasks[task.task_id] = TaskFiles(task.user_id, protect_all=handled or may_write, expired=expired)
        if not expired and not handled:
            self._referenced.update(item.key for item in task.inputs)
            if task.result is not None:
                self._referenced.update(task.result.keys())  # its main file and any other outputs

    def get(self, task_id: str) -> TaskFiles | None:
        return self._tasks.get(task_id)

    def owner(self, task_id: str) -> str | None:
        """The user of an indexed task."""
        files = self._tasks.get(task_id)
        return None if files is None else files.user_id

    def references(self, key: str) -> bool:
        """True when a live task lists `key` as an input or its result."""
        return key in self._referenced

    def users(self) -> set[str]:
        """Every user with an indexed task."""
        return {files.user_id for files in self._tasks.values()}

    def __len__(self) -> int:
        return len(self._tasks)


def is_past_grace(obj: ObjectInfo, now: datetime, grace: timedelta) -> bool:
    """True when the object was last written longer than `grace` ago (unknown age: never)."""
    return obj.modified is not None and now - obj.modified >= grace


def orphan_reason(obj: ObjectInfo, index: TaskIndex, *, now: datetime, grace: timedelta) -> Reason | None:
    """Why `obj` is an orphan, or None when it must stay."""
    if not is_past_grace(obj, now, grace) or index.references(obj.key):
        return None
    owner = parse_key(obj.key)
    if owner is None:
        return Reason.ORPHAN_BAD_KEY
    files = index.get(owner.task_id)
    if files is None:
        return Reason.ORPHAN_NO_TASK
    if owner.user_id is not None and owner.user_id != files.user_id:
        return Reason.ORPHAN_UNREFERENCED  # under another user's folder: this task cannot use it
    if files.protect_all:
        return None
    return Reason.ORPHAN_TASK_EXPIRED if files.expired else Reason.ORPHAN_UNREFERENCED
