"""Cleanup settings (environment prefix MEDIACRAFT_), built once in main and passed down.

Durations take seconds (`MEDIACRAFT_RETENTION_COMPLETED=604800`) or ISO 8601
(`MEDIACRAFT_RETENTION_COMPLETED=P7D`, `MEDIACRAFT_CLEANUP_INTERVAL=PT1H`).
`MEDIACRAFT_USER_STORAGE_QUOTA_BYTES` is meant to be given to the gateway as well: cleanup
measures and flags, the gateway refuses uploads over it.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, field_validator

from mediacraft.cleanup.expiry import ExpiryPolicy
from mediacraft.shared.settings import BaseServiceSettings
from mediacraft.shared.tasks import TaskStatus

_DURATIONS = (
    "cleanup_interval",
    "retention_completed",
    "retention_failed",
    "retention_cancelled",
    "draft_max_age",
    "orphan_grace",
    "multipart_max_age",
    "cleanup_lease_ttl",
    "stale_user_grace",
    "backup_interval",
)


class Settings(BaseServiceSettings):
    """Retention, grace periods, the pass interval and the replica lease of the cleanup service."""

    service_name: str = "cleanup"

    cleanup_interval: timedelta = timedelta(hours=1)
    retention_completed: timedelta = timedelta(days=7)
    retention_failed: timedelta = timedelta(days=3)
    retention_cancelled: timedelta = timedelta(days=3)
    draft_max_age: timedelta = timedelta(hours=24)
    # Longer than any upload takes to be attached to its draft: younger objects are never orphans.
    orphan_grace: timedelta = timedelta(hours=6)
    multipart_max_age: timedelta = timedelta(days=1)
    cleanup_dry_run: bool = False

    # the gateway's MEDIACRAFT_USER_STORAGE_QUOTA_BYTES (same default); `none`: no quota
    user_storage_quota_bytes: int | None = Field(default=10 * 1024**3, ge=0)
    storage_top_users: int = Field(default=20, ge=0)  # users exported one by one as a metric label

    # Anonymous identities unseen past the cookie lifetime (+ grace) go, with their expired task records.
    remove_stale_users: bool = Field(
        default=True,
        description="remove identities not seen for longer than the cookie lifetime plus the grace, with"
        " their expired task records, once every task of theirs has expired",
    )
    cookie_max_age_days: int = Field(default=30, ge=1)  # the gateway's cookie lifetime: give both the same
    stale_user_grace: timedelta = Field(
        default=timedelta(days=1), description="how long past the cookie lifetime an unseen identity is kept"
    )

    # The lease is renewed every third of its ttl while a pass runs; a crashed holder's lapses.
    cleanup_lease_ttl: timedelta = timedelta(minutes=5)
    cleanup_lease_name: str = "cleanup"
    cleanup_page_size: int = Field(default=500, ge=1, le=10_000)
    # A bound on the work of one pass; what is left is done by the next.
    cleanup_max_removals: int = Field(default=10_000, ge=1)

    # Snapshots of a SQLite store into the object store (backups/), taken by a pass once the newest
    # is this old; 0 turns them off. MongoDB: mongodump (deploy/k8s/components/mongo-backup).
    backup_interval: timedelta = Field(
        default=timedelta(hours=6), description="how old the newest store snapshot may get (SQLite only; 0: none)"
    )
    backup_keep: int = Field(default=14, ge=1, description="how many store snapshots to keep")

    cleanup_metrics_host: str = "0.0.0.0"
    cleanup_metrics_port: int = Field(default=9464, ge=0, le=65_535)  # 0: no metrics endpoint

    @field_validator("user_storage_quota_bytes", mode="before")
    @classmethod
    def _none_turns_off(cls, value: object) -> object:
        return None if isinstance(value, str) and value.strip().lower() in ("", "none", "off") else value

    @field_validator(*_DURATIONS, mode="before")
    @classmethod
    def _seconds(cls, value: object) -> object:
        # pydantic reads a number as seconds but not a numeric string, which is what env gives
        if isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                return value
        return value

    @field_validator(*(name for name in _DURATIONS if name != "backup_interval"))
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be a positive duration")
        return value

    @property
    def stale_user_age(self) -> timedelta:
        """Identities not seen for this long are removed (once their tasks have all expired)."""
        return timedelta(days=self.cookie_max_age_days) + self.stale_user_grace

    def expiry_policy(self) -> ExpiryPolicy:
        """The retention rules of these settings."""
        return ExpiryPolicy(
            retention={
                TaskStatus.COMPLETED: self.retention_completed,
                TaskStatus.FAILED: self.retention_failed,
                TaskStatus.CANCELLED: self.retention_cancelled,
            },
            draft_max_age=self.draft_max_age,
        )
