"""Where task files live in the object store: the one layout the gateway, scheduler, workers and cleanup share.

Uploads: `uploads/{user_id}/{task_id}/{name}` (written by the gateway).
Results: `results/{task_id}/{attempt}/{filename}` (written by workers under RunJob.output_key,
which the scheduler names with `attempt_prefix`).
Backups: `backups/store-{YYYYmmddTHHMMSSZ}.db` (SQLite store snapshots written by cleanup; not an
area of task files, so the orphan sweep never looks there).

Pure: builds keys and reads them back, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

UPLOADS = "uploads"
RESULTS = "results"
AREAS = (UPLOADS, RESULTS)
BACKUPS = "backups"


@dataclass(frozen=True)
class KeyOwner:
    """Whose file a key is, as far as the key itself says (results name no user)."""

    area: str
    task_id: str
    user_id: str | None = None


def upload_prefix(user_id: str, task_id: str) -> str:
    """The folder of a task's uploads."""
    return f"{UPLOADS}/{user_id}/{task_id}/"


def upload_key(user_id: str, task_id: str, name: str) -> str:
    """The key of one uploaded file of a task."""
    return f"{upload_prefix(user_id, task_id)}{name}"


def result_prefix(task_id: str) -> str:
    """The folder of every attempt's results of a task."""
    return f"{RESULTS}/{task_id}/"


def attempt_prefix(task_id: str, attempt: int) -> str:
    """The folder one attempt writes its results into (RunJob.output_key)."""
    return f"{result_prefix(task_id)}{attempt}/"


def task_prefixes(user_id: str, task_id: str) -> tuple[str, str]:
    """Both folders a task's files can be in."""
    return upload_prefix(user_id, task_id), result_prefix(task_id)


def backup_key(at: datetime) -> str:
    """The key of a store snapshot taken at `at` (UTC): keys sort as their times do."""
    return f"{BACKUPS}/store-{at.astimezone(UTC):%Y%m%dT%H%M%SZ}.db"


def parse_key(key: str) -> KeyOwner | None:
    """The owner named by a key that follows the layout; None for any other key."""
    parts = key.split("/")
    if parts[0] == UPLOADS and len(parts) >= 4 and parts[1] and parts[2] and parts[-1]:
        return KeyOwner(UPLOADS, task_id=parts[2], user_id=parts[1])
    if parts[0] == RESULTS and len(parts) >= 3 and parts[1] and parts[-1]:
        return KeyOwner(RESULTS, task_id=parts[1])
    return None


def area_of(key: str) -> str | None:
    """`uploads` or `results` for a key under one of them, else None."""
    head = key.split("/", 1)[0]
    return head if head in AREAS else None
