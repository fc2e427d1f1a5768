"""Storage tallies, the record the gateway reads, and the settings that drive a pass."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from mediacraft.cleanup.reasons import human_duration
from mediacraft.cleanup.settings import Settings
from mediacraft.cleanup.usage import StorageUsage, Tally, storage_record
from mediacraft.shared.tasks import TaskStatus


def test_usage_is_tallied_per_user_per_area_and_in_total() -> None:
    usage = StorageUsage()
    usage.add("uploads", 100, "alice")
    usage.add("results", 50, "alice")
    usage.add("uploads", 7, "bob")
    usage.add("results", 3, None)
    assert usage.of("alice") == Tally(150, 2) and usage.of("bob") == Tally(7, 1) and usage.of("carol") == Tally()
    assert (usage.total_bytes, usage.total_objects) == (160, 4)
    assert usage.summary() == {
        "bytes": 160,
        "objects": 4,
        "users": 2,
        "unattributed_bytes": 3,
        "uploads_bytes": 107,
        "results_bytes": 53,
    }
    assert [user for user, _ in usage.top(1)] == ["alice"]


def test_the_storage_record_says_usage_quota_and_when_it_was_measured() -> None:
    at = datetime(2026, 3, 1, 12, tzinfo=UTC)
    assert storage_record(Tally(2048, 3), quota_bytes=1024, measured_at=at) == {
        "bytes": 2048,
        "objects": 3,
        "quota_bytes": 1024,
        "over_quota": True,
        "measured_at": "2026-03-01T12:00:00Z",
    }
    assert storage_record(Tally(2048, 3), quota_bytes=None, measured_at=at)["over_quota"] is False


def test_defaults_are_the_products_promises() -> None:
    s = Settings()
    policy = s.expiry_policy()
    assert policy.retention == {
        TaskStatus.COMPLETED: timedelta(days=7),
        TaskStatus.FAILED: timedelta(days=3),
        TaskStatus.CANCELLED: timedelta(days=3),
    }
    assert (policy.draft_max_age, s.multipart_max_age) == (timedelta(hours=24), timedelta(days=1))
    assert s.cleanup_dry_run is False and s.user_storage_quota_bytes == 10 * 1024**3
    assert s.remove_stale_users is True and s.stale_user_age == timedelta(days=31)


def test_the_quota_is_turned_off_with_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDIACRAFT_USER_STORAGE_QUOTA_BYTES", "none")
    monkeypatch.setenv("MEDIACRAFT_STALE_USER_GRACE", "P2D")
    s = Settings()
    assert s.user_storage_quota_bytes is None and s.stale_user_age == timedelta(days=32)


def test_durations_come_from_the_environment_as_seconds_or_iso(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDIACRAFT_RETENTION_COMPLETED", "P14D")
    monkeypatch.setenv("MEDIACRAFT_ORPHAN_GRACE", "3600")
    monkeypatch.setenv("MEDIACRAFT_CLEANUP_INTERVAL", "PT15M")
    monkeypatch.setenv("MEDIACRAFT_USER_STORAGE_QUOTA_BYTES", "1073741824")
    monkeypatch.setenv("MEDIACRAFT_CLEANUP_DRY_RUN", "true")
    s = Settings()
    assert s.retention_completed == timedelta(days=14) and s.orphan_grace == timedelta(hours=1)
    assert s.cleanup_interval == timedelta(minutes=15)
    assert s.user_storage_quota_bytes == 2**30 and s.cleanup_dry_run is True


@pytest.mark.parametrize("value", ["0", "-5", "P0D"])
def test_a_duration_must_be_positive(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("MEDIACRAFT_RETENTION_FAILED", value)
    with pytest.raises(ValidationError):
        Settings()


def test_durations_read_as_people_say_them() -> None:
    assert human_duration(timedelta(days=7)) == "7 days"
    assert human_duration(timedelta(hours=24)) == "1 day"
    assert human_duration(timedelta(hours=36)) == "36 hours"
    assert human_duration(timedelta(minutes=90)) == "90 minutes"
    assert human_duration(timedelta(seconds=45)) == "45 seconds"
