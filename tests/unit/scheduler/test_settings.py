"""Scheduler settings come from MEDIACRAFT_ variables, dicts as JSON, delays shared with the topology."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from mediacraft.scheduler.settings import Settings
from mediacraft.shared.tasks import TaskType


def test_defaults_follow_the_architecture() -> None:
    settings = Settings(_env_file=None)
    assert (settings.quota_per_user, settings.quota_global, settings.lease_seconds) == (1, 5, 60.0)
    assert settings.retry_delays_ms == (60_000, 300_000, 900_000)
    assert settings.effective_max_retries == 3


def test_environment_sets_quotas_delays_and_per_type_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDIACRAFT_QUOTA_PER_USER", "2")
    monkeypatch.setenv("MEDIACRAFT_QUOTA_PER_TYPE", '{"video_merge": 1}')
    monkeypatch.setenv("MEDIACRAFT_RETRY_DELAYS_MS", "300,600,900")
    monkeypatch.setenv("MEDIACRAFT_MAX_RUN_SECONDS_PER_TYPE", '{"image_generation": 30}')
    settings = Settings()
    assert settings.quota_per_user == 2
    assert settings.quota_per_type == {TaskType.VIDEO_MERGE: 1}
    assert settings.retry_delays_ms == (300, 600, 900)
    assert settings.max_run_seconds_per_type == {TaskType.IMAGE_GENERATION: 30.0}


def test_an_unknown_pool_quota_is_refused() -> None:
    with pytest.raises(ValidationError):
        Settings(quota_per_pool={"nonsense": 1})
