"""Storage usage per user and in total, tallied from one listing of the object store.

Per-user figures are stored on the user record, under metadata key `storage`, where the gateway
reads them for `GET /api/user/info` and for the upload quota:

    {"bytes": 123, "objects": 2, "quota_bytes": 1073741824 | null, "over_quota": false,
     "measured_at": "2026-03-01T12:00:00Z"}

`bytes` counts the user's uploads and the results of the user's tasks that are still stored;
`measured_at` is the pass that measured it, so the figure is at most one interval old.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mediacraft.shared.object_keys import AREAS

STORAGE_METADATA_KEY = "storage"


@dataclass
class Tally:
    bytes: int = 0
    objects: int = 0

    def add(self, size: int) -> None:
        self.bytes += size
        self.objects += 1


@dataclass
class StorageUsage:
    """Bytes and objects by area (uploads, results), by user, and those no task accounts for."""

    areas: dict[str, Tally] = field(default_factory=lambda: {area: Tally() for area in AREAS})
    users: dict[str, Tally] = field(default_factory=dict)
    unattributed: Tally = field(default_factory=Tally)

    def add(self, area: str, size: int, user_id: str | None) -> None:
        """Count one stored object of `size` bytes in `area`, owned by `user_id` if known."""
        self.areas.setdefault(area, Tally()).add(size)
        if user_id is None:
            self.unattributed.add(size)
        else:
            self.users.setdefault(user_id, Tally()).add(size)

    @property
    def total_bytes(self) -> int:
        return sum(tally.bytes for tally in self.areas.values())

    @property
    def total_objects(self) -> int:
        return sum(tally.objects for tally in self.areas.values())

    def of(self, user_id: str) -> Tally:
        """The user's tally (zero when nothing of theirs is stored)."""
        return self.users.get(user_id, Tally())

    def top(self, count: int) -> list[tuple[str, Tally]]:
        """The `count` users storing the most bytes, largest first."""
        ranked = sorted(self.users.items(), key=lambda item: (-item[1].bytes, item[0]))
        return ranked[:count]

    def summary(self) -> dict[str, Any]:
        """Totals for the pass report and its log line."""
        return {
            "bytes": self.total_bytes,
            "objects": self.total_objects,
            "users": sum(1 for tally in self.users.values() if tally.objects),
            "unattributed_bytes": self.unattributed.bytes,
            **{f"{area}_bytes": tally.bytes for area, tally in self.areas.items()},
        }


def storage_record(tally: Tally, *, quota_bytes: int | None, measured_at: datetime) -> dict[str, Any]:
    """The `storage` metadata entry of one user, as the gateway reads it."""
    return {
        "bytes": tally.bytes,
        "objects": tally.objects,
        "quota_bytes": quota_bytes,
        "over_quota": quota_bytes is not None and tally.bytes > quota_bytes,
        "measured_at": measured_at.isoformat().replace("+00:00", "Z"),
    }
