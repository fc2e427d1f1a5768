"""What one pass removed (or, in a dry run, would remove) and why, as logged and returned."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from mediacraft.cleanup.reasons import Reason, explain
from mediacraft.cleanup.usage import StorageUsage


class Kind(StrEnum):
    TASK_FILES = "task_files"  # files of a finished task that expired (record kept, marked expired)
    DRAFT = "draft"  # a draft never submitted: files and record
    ORPHAN = "orphan"  # an object no task uses
    MULTIPART = "multipart"  # an incomplete multipart upload
    USER = "user"  # an anonymous identity unseen past the cookie lifetime, with its expired task records


class Outcome(StrEnum):
    COMPLETED = "completed"
    SKIPPED = "skipped"  # another replica holds the lease
    LEASE_LOST = "lease_lost"
    FAILED = "failed"


@dataclass(frozen=True)
class Removal:
    kind: Kind
    reason: Reason
    keys: tuple[str, ...] = ()
    bytes: int = 0
    task_id: str | None = None
    user_id: str | None = None
    upload_id: str | None = None
    records: int = 0  # task records removed with a user

    def fields(self) -> dict[str, Any]:
        """Log fields: what, whose, why."""
        data = {name: value for name, value in asdict(self).items() if value not in (None, ())}
        data["keys"] = list(self.keys)
        data["why"] = explain(self.reason)
        return data


@dataclass(frozen=True)
class Skip:
    """A task the pass meant to act on but left alone."""

    task_id: str
    why: str


@dataclass
class PassReport:
    dry_run: bool
    started_at: datetime
    holder: str | None = None
    outcome: Outcome = Outcome.COMPLETED
    finished_at: datetime | None = None
    removals: list[Removal] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    usage: StorageUsage | None = None
    tasks_scanned: int = 0
    objects_scanned: int = 0
    usage_records_written: int = 0
    truncated: bool = False  # the removal budget ran out; the next pass goes on

    @property
    def ran(self) -> bool:
        return self.outcome is not Outcome.SKIPPED

    def of_kind(self, kind: Kind) -> list[Removal]:
        return [removal for removal in self.removals if removal.kind is kind]

    def keys_of(self, kind: Kind) -> set[str]:
        """Every object key removed as `kind`."""
        return {key for removal in self.of_kind(kind) for key in removal.keys}

    def counts(self) -> dict[str, int]:
        return {kind.value: len(self.of_kind(kind)) for kind in Kind}

    @property
    def bytes_removed(self) -> int:
        return sum(removal.bytes for removal in self.removals)

    def summary(self) -> dict[str, Any]:
        """The pass in one log line."""
        return {
            "outcome": self.outcome.value,
            "dry_run": self.dry_run,
            "removed": self.counts(),
            "bytes_removed": self.bytes_removed,
            "skipped": len(self.skipped),
            "errors": len(self.errors),
            "tasks_scanned": self.tasks_scanned,
            "objects_scanned": self.objects_scanned,
            "usage_records_written": self.usage_records_written,
            "truncated": self.truncated,
            "storage": self.usage.summary() if self.usage is not None else None,
            "seconds": (self.finished_at - self.started_at).total_seconds() if self.finished_at else None,
        }

    def to_json(self) -> dict[str, Any]:
        """The whole report, for `--json`."""
        return {
            **self.summary(),
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "removals": [removal.fields() for removal in self.removals],
            "skipped_tasks": [asdict(skip) for skip in self.skipped],
            "error_messages": list(self.errors),
        }
