"""Store ports: the task store (read model and lifecycle state), the user store and the video store."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from mediacraft.shared.errors import InvalidInput
from mediacraft.shared.projects import Project, ProjectPage
from mediacraft.shared.scripts import Script
from mediacraft.shared.tasks import Page, RequestedControl, SubTask, Task, TaskDetection, TaskStatus, TaskType, User
from mediacraft.shared.transitions import Transition
from mediacraft.shared.videos import Video

_METADATA_KEY = re.compile(r"[A-Za-z0-9_-]{1,64}")


def validate_metadata_key(key: str) -> str:
    """Return `key` if it can name a user metadata entry in every store, else raise InvalidInput.

    Letters, digits, '_' and '-' only: the key becomes part of a JSON path (SQLite) and of a
    dotted field name (MongoDB), where '.', '$' or quotes would mean something else.
    """
    if not isinstance(key, str) or not _METADATA_KEY.fullmatch(key):
        raise InvalidInput(f"invalid user metadata key {key!r}", code="invalid_metadata_key")
    return key


class TaskStore(Protocol):
    async def start(self) -> None:
        """Open connections, create tables or indexes (idempotent)."""

    async def close(self) -> None: ...

    async def insert(self, task: Task) -> Task:
        """Store a new task (version as given, normally 0); Conflict if the id exists."""

    async def get(self, task_id: str) -> Task | None: ...

    async def get_for_user(self, task_id: str, user_id: str) -> Task | None:
        """The task only if `user_id` owns it; None otherwise (callers answer 404 either way)."""

    async def transition(
        self,
        task_id: str,
        transition: Transition,
        *,
        expected_version: int,
        changes: Mapping[str, Any] | None = None,
    ) -> Task:
        """Compare-and-set: take the named `transition` (mediacraft.shared.transitions) or change nothing.

        Applies only while the task's status is one the transition leaves from and its version is
        `expected_version`: writes `changes`, the transition's target status and updated_at, and
        bumps version. InvalidTransition, before anything is read, when the table does not allow the
        write (a transition not in the table, a `status` in `changes` other than its target, a
        field it may not set); Conflict when status or version do not match; NotFound when there
        is no such task. `changes` holds Task field names with JSON-able or model values.
        """

    async def update_progress(
        self,
        task_id: str,
        *,
        attempt: int,
        progress: float,
        stage: str | None = None,
        subtasks: list[SubTask] | None = None,
        eta_seconds: float | None = None,
        message: str | None = None,
        lease_expires_at: datetime | None = None,
    ) -> Task | None:
        """Move progress forward for the running `attempt`; never backwards, never another attempt.

        Applies only while the task is processing or cancelling with `attempts == attempt` and
        stored progress <= `progress`; returns the updated task, or None when nothing applied.
        Does not bump `version` (progress is not a lifecycle transition). `subtasks`, when given,
        replaces the whole ordered list of stages.
        """

    async def set_detection(self, task_id: str, detection: TaskDetection, *, answers: str | None = None) -> Task | None:
        """Write a watermark draft's `detection`; None when nothing applied.

        Applies only while the task is a draft (created or uploaded); with `answers`, only while
        the stored detection is that request's (an answer never replaces a newer request). Does not
        bump `version` (detection is not a lifecycle transition).
        """

    async def set_user_flags(
        self, task_id: str, user_id: str, *, hidden: bool | None = None, notified: bool | None = None
    ) -> Task | None:
        """Set the user-owned flags on the owner's task; None when not found or not owned."""

    async def request_control(self, task_id: str, user_id: str, control: RequestedControl) -> Task | None:
        """Record a cancel or retry on the owner's task while its status allows it (CONTROL_STATUSES).

        Replaces any earlier request, sets updated_at and bumps `version`, so that a lifecycle write
        the scheduler prepared from an older read conflicts, and the scheduler re-reads the task and
        sees the request. Not a transition: the status does not change. None when the task is not
        found or not owned; Conflict when its status does not allow this control.
        """

    async def clear_control(self, task_id: str, *, expected_version: int) -> Task | None:
        """Forget the requested control while the task's version is `expected_version`.

        The scheduler calls it once the control is carried out or can no longer be; a request
        recorded meanwhile bumped the version, so it is never forgotten unseen. No version bump.
        Returns the task, or None when nothing applied (no control, another version, no task).
        """

    async def list_controlled(self, *, limit: int = 1000, after: str | None = None) -> list[Task]:
        """All users' tasks with a requested control, by task_id after `after` (scheduler reconcile)."""

    async def list_for_user(
        self,
        user_id: str,
        *,
        statuses: Collection[TaskStatus] | None = None,
        task_type: TaskType | None = None,
        include_hidden: bool = False,
        notified: bool | None = None,
        cursor: str | None = None,
        limit: int = 20,
    ) -> Page:
        """Newest first (created_at, then task_id), keyset-paginated: stable while tasks are added."""

    async def count_by_status(self, user_id: str, *, include_hidden: bool = False) -> dict[str, int]:
        """Number of the user's tasks per status (statuses with none are left out)."""

    async def find_by_fingerprint(self, user_id: str, fingerprint: str, since: datetime) -> Task | None:
        """The newest task of the user with this fingerprint created at or after `since`."""

    async def list_by_status(
        self, statuses: Collection[TaskStatus], *, limit: int = 1000, after: str | None = None
    ) -> list[Task]:
        """All users' tasks in these statuses, oldest submitted first (scheduler recovery, cleanup).

        `after` is the task_id keyset cursor for paging through large sets.
        """

    async def delete(self, task_id: str) -> bool:
        """Remove a task record (drafts only, by cleanup); True when something was removed."""

    async def search_tasks(
        self,
        *,
        task_id: str | None = None,
        user_id: str | None = None,
        statuses: Collection[TaskStatus] | None = None,
        task_type: TaskType | None = None,
        error_code: str | None = None,
        cursor: str | None = None,
        limit: int = 20,
    ) -> Page:
        """All users' tasks matching every filter given (the operator console), hidden ones included.

        Newest first by (created_at, task_id), keyset-paginated like `list_for_user`; `error_code`
        matches the code of the task's last error (`error.code`).
        """

    async def append_history(self, entries: Sequence[Mapping[str, Any]]) -> None:
        """Append entries to tasks' histories, each naming its `task_id` (JSON-able values).

        A task's entries come back in the order they were appended. The scheduler is the one
        writer; entries go when their task is removed with a stale user.
        """

    async def list_history(self, task_id: str, *, limit: int = 200) -> list[dict[str, Any]]:
        """A task's history entries, oldest first: the latest `limit` of them."""

    async def get_record(self, name: str) -> dict[str, Any] | None:
        """A named record kept beside the tasks (runtime settings, published figures); None if unset."""

    async def put_record(self, name: str, value: Mapping[str, Any]) -> None:
        """Write (or replace) the named record: a JSON-able mapping."""

    async def ping(self) -> bool: ...


class UserStore(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def create_user(self, user: User) -> User:
        """Store a new user; Conflict if the id exists."""

    async def get_user(self, user_id: str) -> User | None: ...

    async def touch_user(self, user_id: str, at: datetime) -> bool:
        """Set last_accessed to `at` if it is later; True when the user exists."""

    async def set_user_metadata(self, user_id: str, key: str, value: Any) -> bool:
        """Set one top-level key of the user's metadata to a JSON-able value (None removes it).

        Other keys are left alone, so each service may keep its own (cleanup writes `storage`).
        True when the user exists; InvalidInput for a key `validate_metadata_key` refuses.
        """

    async def list_stale_users(
        self, seen_before: datetime, *, limit: int = 1000, after: str | None = None
    ) -> list[User]:
        """Users last seen before `seen_before`, by user_id; `after` is the user_id keyset cursor."""

    async def delete_stale_user(self, user_id: str, *, seen_before: datetime) -> int | None:
        """Remove a user not seen since before `seen_before` with their expired task records.

        Only when every task of the user is `expired` (or there is none): otherwise, or when the
        user was seen since or does not exist, nothing changes and the answer is None. Else the
        number of task records removed with the user; the user's projects go too. Files are not
        touched (they went with retention).
        """

    async def ping(self) -> bool: ...


class LeaseStore(Protocol):
    """Named leases with an expiry: at most one unexpired holder per name at any time.

    Time is the store's clock. Used by cleanup so that one replica at a time runs a pass.
    """

    async def acquire_lease(self, name: str, holder: str, *, ttl_seconds: float) -> bool:
        """Take the lease, or renew it when `holder` has it, until now + `ttl_seconds`.

        False, and nothing changes, while another holder's lease has not expired.
        """

    async def release_lease(self, name: str, holder: str) -> bool:
        """Give the lease up if `holder` has it; True when it was released."""


class ProjectStore(Protocol):
    """Video-creation projects (mediacraft.shared.projects); every write bumps `version`."""

    async def insert_project(self, project: Project) -> Project:
        """Store a new project; Conflict if the id exists."""

    async def get_project(self, project_id: str, user_id: str) -> Project | None:
        """The project only if `user_id` owns it; None otherwise (callers answer 404 either way)."""

    async def list_projects(
        self, user_id: str, *, unannounced: bool = False, cursor: str | None = None, limit: int = 20
    ) -> ProjectPage:
        """The user's projects, newest first (created_at, then id), keyset-paginated.

        `unannounced`: only those with a script task whose end was not announced (not `notified`).
        """

    async def set_script_task(
        self, project_id: str, user_id: str, task_id: str | None, *, expected: str | None
    ) -> Project | None:
        """Make `task_id` the latest script task (not yet announced) while it is `expected`.

        None when the project is not found or not owned; Conflict when another script task was
        set meanwhile (two starts at once: one wins).
        """

    async def keep_script(
        self, project_id: str, task_id: str, script: Script, completed_at: datetime
    ) -> Project | None:
        """Keep the script of the completed task `task_id` while it is the latest script task.

        None, and nothing changes, when another task is the latest or this script is kept already.
        """

    async def set_project_notified(self, project_id: str, user_id: str, *, notified: bool = True) -> Project | None:
        """Mark the latest script task's end announced (or not); None when not found or not owned."""


@runtime_checkable
class VideoStore(Protocol):
    """The video records (mediacraft.shared.videos): made once, never rewritten, except for the
    pointer at their latest reprocess task, which moves by compare-and-set."""

    async def put_video(self, video: Video) -> Video:
        """Store `video` unless a record with its id exists; the stored record either way."""

    async def get_video(self, video_id: str) -> Video | None: ...

    async def get_video_for_user(self, video_id: str, user_id: str) -> Video | None:
        """The video only if `user_id` owns it; None otherwise (callers answer 404 either way)."""

    async def list_videos(self, user_id: str, *, limit: int = 100) -> list[Video]:
        """The user's videos, newest first (by created_at, then video_id), at most `limit`."""

    async def videos_of_task(self, source_task_id: str) -> list[Video]:
        """Every video whose source is `source_task_id`."""

    async def set_video_reprocess(self, video_id: str, *, expected: str | None, task_id: str) -> Video | None:
        """Point the video at its new reprocess task if it still points at `expected`; the
        updated video, or None when it does not exist or points elsewhere now (another start won)."""

    async def delete_videos_of_task(self, source_task_id: str) -> int:
        """Remove the records of a source task's videos (its files expired); how many went."""


class Store(TaskStore, UserStore, LeaseStore, ProjectStore, VideoStore, Protocol):
    """What a store adapter implements: every store port at once (one database, one client)."""
