"""What both task store adapters share: exact UTC timestamps, validated changes, list cursors.

Both adapters keep every datetime to the microsecond as an integer next to the document (BSON
dates stop at the millisecond), so a task reads back equal to what was written, from either one.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from pydantic import TypeAdapter

from mediacraft.shared.errors import InvalidInput
from mediacraft.shared.tasks import SubTask, Task, TaskStatus, User
from mediacraft.shared.transitions import Transition, checked_changes

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

# The fields whose type mentions datetime, found once from the model so a new one is not missed.
TASK_DATETIME_FIELDS: tuple[str, ...] = tuple(
    name for name, field in Task.model_fields.items() if "datetime" in str(field.annotation)
)
# Identity and ordering keys never change after insert; the version belongs to the store.
IMMUTABLE_FIELDS = frozenset({"task_id", "user_id", "created_at", "version"})
RUNNING_STATUSES = (TaskStatus.PROCESSING, TaskStatus.CANCELLING)


def as_utc(value: datetime) -> datetime:
    """The same instant in UTC; a naive datetime is taken to be UTC already."""
    if value.tzinfo is UTC:
        return value
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def to_us(value: datetime) -> int:
    """Microseconds since the epoch: sorts like the instant, exact."""
    return (as_utc(value) - EPOCH) // _MICROSECOND


def from_us(value: int) -> datetime:
    """Aware UTC datetime from epoch microseconds."""
    return EPOCH + timedelta(microseconds=value)


def utc_task(task: Task) -> Task:
    """A copy of `task` whose datetimes are all in UTC (with `timezone.utc` as tzinfo)."""
    update = {
        name: as_utc(value)
        for name in TASK_DATETIME_FIELDS
        if (value := getattr(task, name)) is not None and value.tzinfo is not UTC
    }
    return task.model_copy(update=update) if update else task


def utc_decoded(task: Task) -> Task:
    """`task`, just parsed from a stored document, with `timezone.utc` as every tzinfo.

    Changes the task in place: cheaper than a copy on the listing path, and nothing else holds it.
    """
    for name in TASK_DATETIME_FIELDS:
        value = getattr(task, name)
        if value is not None and value.tzinfo is not UTC:
            setattr(task, name, as_utc(value))
    return task


def utc_user(user: User) -> User:
    """A copy of `user` with UTC datetimes."""
    return user.model_copy(update={"created_at": as_utc(user.created_at), "last_accessed": as_utc(user.last_accessed)})


def queue_order_us(submitted_at: datetime | None, created_at_us: int) -> int:
    """Key of `list_by_status`: when submitted; a draft counts as submitted when created."""
    return to_us(submitted_at) if submitted_at is not None else created_at_us


@cache
def _field_adapter(name: str) -> TypeAdapter[Any]:
    annotation = Task.model_fields[name].annotation
    assert annotation is not None, name  # every Task field is annotated
    return TypeAdapter(annotation)


def validate_changes(changes: Mapping[str, Any]) -> dict[str, Any]:
    """Validate `transition` changes field by field; datetimes come back in UTC.

    Raises ValueError for a name that is not a Task field or may not change.
    """
    validated: dict[str, Any] = {}
    for name, value in changes.items():
        if name not in Task.model_fields:
            raise ValueError(f"{name!r} is not a task field")
        if name in IMMUTABLE_FIELDS:
            raise ValueError(f"{name!r} cannot change after insert")
        value = _field_adapter(name).validate_python(value)
        if isinstance(value, datetime):
            value = as_utc(value)
        validated[name] = value
    return validated


def transition_write(transition: Transition, changes: Mapping[str, Any] | None) -> tuple[list[str], dict[str, Any]]:
    """The statuses a transition leaves from and its validated changes, target status included.

    Raises InvalidTransition for a write the state machine does not allow, ValueError for a value
    that does not fit its field.
    """
    validated = validate_changes(checked_changes(transition, changes))
    return [status.value for status in transition.sources], validated


def conflict_message(task_id: str, transition: Transition, current: Task, expected_version: int) -> str:
    """Why a compare-and-set did not apply, for logs and skipped-task reports."""
    statuses = "/".join(status.value for status in transition.sources)
    return (
        f"cannot {transition.name} task {task_id}: it is {current.status.value} v{current.version},"
        f" expected {statuses} v{expected_version}"
    )


def dump_field(name: str, value: Any) -> Any:
    """JSON-able form of one validated Task field value."""
    return _field_adapter(name).dump_python(value, mode="json")


def dump_datetime(value: datetime) -> str:
    """The stored text of a datetime, in UTC, as pydantic writes it in documents."""
    return str(_field_adapter("updated_at").dump_python(as_utc(value), mode="json"))


def progress_changes(
    progress: float,
    now: datetime,
    *,
    stage: str | None,
    eta_seconds: float | None,
    message: str | None,
    lease_expires_at: datetime | None,
) -> dict[str, Any]:
    """The validated fields a progress report sets (progress clamped to 0-100); None leaves a field."""
    optional: dict[str, object] = {
        "stage": stage,
        "eta_seconds": eta_seconds,
        "message": message,
        "lease_expires_at": lease_expires_at,
    }
    changes: dict[str, Any] = {"progress": clamp_progress(progress), "updated_at": now}
    changes.update({name: value for name, value in optional.items() if value is not None})
    return validate_changes(changes)


def check_subtasks(subtasks: Sequence[SubTask]) -> list[dict[str, Any]]:
    """The ordered stages as stored: validated, JSON-able, names unique."""
    items = [SubTask.model_validate(item).model_dump(mode="json") for item in subtasks]
    names = [item["name"] for item in items]
    if len(set(names)) != len(names):
        raise InvalidInput(f"stage names repeat: {names}")
    return items


def clamp_progress(progress: float) -> float:
    """Progress is a percentage."""
    return min(100.0, max(0.0, float(progress)))


def status_values(statuses: TaskStatus | Collection[TaskStatus]) -> list[str]:
    """One status or several, as the stored strings (a bare string is one status)."""
    if isinstance(statuses, str):
        return [TaskStatus(statuses).value]
    return [TaskStatus(status).value for status in statuses]


def check_limit(limit: int) -> int:
    """Page sizes must be positive."""
    if limit < 1:
        raise InvalidInput("limit must be at least 1")
    return int(limit)


def encode_cursor(created_at_us: int, task_id: str) -> str:
    """Opaque cursor for the position after the task with this (created_at, task_id)."""
    raw = json.dumps([created_at_us, task_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(cursor: str) -> tuple[int, str]:
    """(created_at_us, task_id) from a cursor; InvalidInput for anything we did not issue."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_at_us, task_id = json.loads(raw)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise InvalidInput("invalid cursor") from exc
    if type(created_at_us) is not int or not isinstance(task_id, str):
        raise InvalidInput("invalid cursor")
    return created_at_us, task_id
