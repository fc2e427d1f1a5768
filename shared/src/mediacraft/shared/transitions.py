"""The task state machine as data: every allowed change of a task's lifecycle state, by name.

`TaskStore.transition(task_id, transitions.DISPATCH, expected_version=v, changes={...})` is the
only way a stored task changes status (or its queue standing). The store takes the statuses to
compare against and the status to write from the named transition, and refuses with
`InvalidTransition` a transition that is not in `TRANSITIONS`, a `status` in `changes` other
than the target, or a field the transition may not set. Which component makes each transition is
recorded here and checked by a test over the services' source (tests/unit/test_transition_writers.py);
docs/interop.md shows the table and a diagram generated from it (scripts/lifecycle_reference.py).

Pure: no I/O. A task is born `created` by the gateway's insert, not by a transition; progress
reports (`update_progress`), the user-owned flags (`set_user_flags`) and the requested control
(`request_control`, `clear_control`) are not transitions either: they change no status.
`FIELD_WRITES` lists those writes, with who makes each.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from mediacraft.shared.errors import InvalidTransition
from mediacraft.shared.tasks import TaskStatus

S = TaskStatus
INITIAL_STATUS = S.CREATED
_ORDER = {status: n for n, status in enumerate(TaskStatus)}


class Component(StrEnum):
    """The services that write a task's lifecycle state (one writer per phase)."""

    GATEWAY = "gateway"
    SCHEDULER = "scheduler"
    CLEANUP = "cleanup"


@dataclass(frozen=True)
class Transition:
    """One allowed move: from any of `sources` to `target`, made by `by`, setting only `fields`.

    `target` may be one of `sources` (a same-status update, such as a new queue position). The
    store always sets `status` (to `target`), `version` (+1) and `updated_at` itself.
    """

    name: str
    sources: tuple[TaskStatus, ...]
    target: TaskStatus
    by: Component
    fields: frozenset[str]
    summary: str


def _transition(
    name: str, sources: Iterable[TaskStatus], target: TaskStatus, by: Component, fields: Iterable[str], summary: str
) -> Transition:
    ordered = tuple(sorted(set(sources), key=_ORDER.__getitem__))
    return Transition(name, ordered, target, by, frozenset(fields), summary)


# The transitions that carry out a person's cancel or retry also clear the requested control
# (`control`), in the same compare-and-set: it names the version the request was read with, so a
# request recorded later (which bumps the version) makes it conflict instead of being lost.

# Fields that every end of an attempt clears, so that a finished task shows no stale schedule.
_ENDS_ATTEMPT = ("completed_at", "lease_expires_at", "next_retry_at", "eta_seconds", "message")
_CANCELS = (*_ENDS_ATTEMPT, "queue_position")

# --- the gateway: drafts, submission, cancel of a draft ---------------------------------------------
UPLOAD = _transition(
    "upload",
    (S.CREATED, S.UPLOADED),
    S.UPLOADED,
    Component.GATEWAY,
    ("inputs", "original_filename", "file_size"),
    "files are attached to a draft",
)
SUBMIT = _transition(
    "submit",
    (S.CREATED, S.UPLOADED),
    S.QUEUED,
    Component.GATEWAY,
    ("config", "fingerprint", "submitted_at", "message", "eta_seconds", "expires_at"),
    "the validated config is stored and the task handed to the scheduler",
)
CANCEL_DRAFT = _transition(
    "cancel_draft",
    (S.CREATED, S.UPLOADED),
    S.CANCELLED,
    Component.GATEWAY,
    ("completed_at", "message"),
    "a person cancels a draft (its files are deleted)",
)

# --- the scheduler: everything after submission ------------------------------------------------------
REPOSITION = _transition(
    "reposition",
    (S.QUEUED,),
    S.QUEUED,
    Component.SCHEDULER,
    ("queue_position", "message"),
    "a waiting task's queue position and message change",
)
DISPATCH = _transition(
    "dispatch",
    (S.QUEUED,),
    S.PROCESSING,
    Component.SCHEDULER,
    (
        "attempts",
        "max_retries",
        "started_at",
        "lease_expires_at",
        "queue_position",
        "message",
        "progress",
        "stage",
        "subtasks",
        "eta_seconds",
        "next_retry_at",
    ),
    "quotas allow: a new attempt starts and its job is published",
)
COMPLETE = _transition(
    "complete",
    (S.PROCESSING,),
    S.COMPLETED,
    Component.SCHEDULER,
    (*_ENDS_ATTEMPT, "progress", "subtasks", "result", "error", "error_message"),
    "the worker stored the result",
)
SCHEDULE_RETRY = _transition(
    "schedule_retry",
    (S.PROCESSING,),
    S.RETRYING,
    Component.SCHEDULER,
    ("retry_count", "next_retry_at", "lease_expires_at", "eta_seconds", "error", "error_message", "message"),
    "a retryable failure (or a lost worker) with retries left: wait for the next delay step",
)
FAIL = _transition(
    "fail",
    (S.PROCESSING,),
    S.FAILED,
    Component.SCHEDULER,
    (*_ENDS_ATTEMPT, "error", "error_message"),
    "a failure that will not pass, or the last retry failed",
)
REQUEUE_LOST = _transition(
    "requeue_lost",
    (S.PROCESSING,),
    S.QUEUED,
    Component.SCHEDULER,
    ("lost_redispatches", "lease_expires_at", "next_retry_at", "eta_seconds", "error", "error_message", "message"),
    "the attempt was lost with its worker: back in the user's line at once, no retry used",
)
REQUEUE = _transition(
    "requeue",
    (S.RETRYING,),
    S.QUEUED,
    Component.SCHEDULER,
    ("next_retry_at", "message"),
    "the retry delay is over: back in the user's line",
)
CANCEL_WAITING = _transition(
    "cancel_waiting",
    (S.QUEUED, S.RETRYING),
    S.CANCELLED,
    Component.SCHEDULER,
    (*_CANCELS, "control"),
    "a person cancels a task that is not running: it ends at once",
)
REQUEST_CANCEL = _transition(
    "request_cancel",
    (S.PROCESSING, S.CANCELLING),
    S.CANCELLING,
    Component.SCHEDULER,
    ("message", "control"),
    "a person cancels a running task: its worker is told to stop (asking again repeats it)",
)
CONFIRM_CANCEL = _transition(
    "confirm_cancel",
    (S.CANCELLING,),
    S.CANCELLED,
    Component.SCHEDULER,
    _CANCELS,
    "the worker stopped, finished or failed, or its lease lapsed, after a cancel request",
)
RESTART = _transition(
    "restart",
    (S.FAILED, S.CANCELLED),
    S.QUEUED,
    Component.SCHEDULER,
    (
        "submitted_at",
        "retry_count",
        "lost_redispatches",
        "next_retry_at",
        "progress",
        "stage",
        "subtasks",
        "eta_seconds",
        "result",
        "error",
        "error_message",
        "message",
        "started_at",
        "completed_at",
        "lease_expires_at",
        "control",
    ),
    "a person retries a failed or cancelled task: a fresh series of attempts",
)

# --- cleanup: retention and abandoned drafts -------------------------------------------------------
EXPIRE_FILES = _transition(
    "expire_files",
    (S.COMPLETED, S.FAILED, S.CANCELLED),
    S.EXPIRED,
    Component.CLEANUP,
    ("message", "expires_at", "eta_seconds", "queue_position"),
    "retention is over (or the task was hidden): its files are deleted, the record stays",
)
EXPIRE_DRAFT = _transition(
    "expire_draft",
    (S.CREATED, S.UPLOADED),
    S.EXPIRED,
    Component.CLEANUP,
    ("message", "expires_at"),
    "a draft was abandoned (or hidden): claimed, then its files and record are deleted",
)

TRANSITIONS: Mapping[str, Transition] = MappingProxyType(
    {
        t.name: t
        for t in (
            UPLOAD,
            SUBMIT,
            CANCEL_DRAFT,
            REPOSITION,
            DISPATCH,
            COMPLETE,
            SCHEDULE_RETRY,
            FAIL,
            REQUEUE,
            REQUEUE_LOST,
            CANCEL_WAITING,
            REQUEST_CANCEL,
            CONFIRM_CANCEL,
            RESTART,
            EXPIRE_FILES,
            EXPIRE_DRAFT,
        )
    }
)


@dataclass(frozen=True)
class FieldWrite:
    """Task fields written outside the transitions: by `by`, through the store call `through`."""

    fields: tuple[str, ...]
    by: Component
    through: str
    summary: str


FIELD_WRITES: tuple[FieldWrite, ...] = (
    FieldWrite(
        ("hidden", "notified"),
        Component.GATEWAY,
        "set_user_flags",
        "the user-owned flags, in any status; no version bump",
    ),
    FieldWrite(
        ("control",),
        Component.GATEWAY,
        "request_control",
        "a person asks to cancel a waiting or running task, or to retry a failed or cancelled one: recorded"
        " (version bumped, so a scheduler write from an older read conflicts and re-reads), then"
        " CancelTask/RetryTask is published",
    ),
    FieldWrite(
        ("control",),
        Component.SCHEDULER,
        "clear_control",
        "the requested control can no longer be carried out (the task ended or moved on meanwhile); only on"
        " the version the scheduler last saw, no version bump. Carrying one out clears it in the same"
        " transition (cancel_waiting, request_cancel, restart)",
    ),
    FieldWrite(
        ("progress", "stage", "subtasks", "eta_seconds", "message", "lease_expires_at"),
        Component.SCHEDULER,
        "update_progress",
        "a running attempt's progress and lease; never backwards, no version bump",
    ),
)


def checked_changes(transition: Transition, changes: Mapping[str, Any] | None) -> dict[str, Any]:
    """`changes` with `status` set to the target; InvalidTransition when the table does not allow them."""
    if not isinstance(transition, Transition) or TRANSITIONS.get(transition.name) != transition:
        raise InvalidTransition(f"{transition!r} is not a transition of the task state machine")
    checked = dict(changes or {})
    status = checked.pop("status", transition.target)
    if status != transition.target:
        raise InvalidTransition(f"{transition.name} goes to {transition.target.value}, not {status!r}")
    refused = sorted(set(checked) - transition.fields)
    if refused:
        raise InvalidTransition(f"{transition.name} may not set {', '.join(refused)}")
    checked["status"] = transition.target
    return checked
