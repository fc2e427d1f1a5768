"""Scheduler settings (environment prefix MEDIACRAFT_), built once in main and passed down."""

from __future__ import annotations

from pydantic import Field, model_validator

from mediacraft.shared.settings import BaseServiceSettings
from mediacraft.shared.tasks import POOL_OF_TYPE, TaskType


class Settings(BaseServiceSettings):
    """Quotas, leases, timers and retry knobs of the scheduler.

    Dict settings come from JSON in the environment, e.g.
    `MEDIACRAFT_QUOTA_PER_TYPE='{"video_merge": 2}'`. Retry delays and the delay-queue topology
    both come from the shared `retry_delays_ms`, so a delay the scheduler asks for always exists.
    """

    service_name: str = "scheduler"

    quota_per_user: int = Field(default=1, ge=1)
    quota_global: int = Field(default=5, ge=1)
    quota_per_type: dict[TaskType, int] = Field(default_factory=dict)
    quota_per_pool: dict[str, int] = Field(default_factory=dict)

    lease_seconds: float = Field(default=60.0, gt=0)
    max_run_seconds: float = Field(default=30 * 60.0, gt=0)
    max_run_seconds_per_type: dict[TaskType, float] = Field(default_factory=dict)
    # a dispatched job may wait in its pool's queue for a free worker this long before it is retried
    start_timeout_seconds: float = Field(default=10 * 60.0, gt=0)
    # The retry budget has one owner, this setting: nothing else reads it.
    max_retries: int | None = Field(
        default=None,
        ge=0,
        description="retries each task gets, written on it at dispatch; unset: one per retry delay",
    )

    detection_concurrency: int = Field(
        default=2,
        ge=1,
        description="watermark detection jobs running at once across all users (outside the task quotas)",
    )
    detection_timeout_seconds: float = Field(
        default=300.0,
        gt=0,
        description="a detection job not answered by then frees its slot and the task's detection fails",
    )

    tick_seconds: float = Field(default=1.0, gt=0)
    reconcile_seconds: float = Field(default=30.0, gt=0)
    progress_throttle_seconds: float = Field(default=1.0, ge=0)
    queue_position_refresh_seconds: float = Field(default=2.0, gt=0)
    queue_position_writes_per_refresh: int = Field(default=50, ge=0)
    inbox_prefetch: int = Field(default=256, ge=1)
    pools_record_seconds: float = Field(
        default=2.0,
        gt=0,
        description="how often the active scheduler writes its pool figures for the operator console",
    )

    metrics_host: str = Field(default="0.0.0.0", description="Interface of the scheduler metrics endpoint.")
    metrics_port: int = Field(
        default=9102,
        ge=0,
        le=65_535,
        description="Port of the scheduler Prometheus metrics endpoint; 0 turns it off.",
    )

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if not self.retry_delays_ms:
            raise ValueError("retry_delays_ms must name at least one delay")
        unknown = set(self.quota_per_pool) - set(POOL_OF_TYPE.values())
        if unknown:
            raise ValueError(f"quota_per_pool names unknown pools: {sorted(unknown)}")
        return self

    @property
    def effective_max_retries(self) -> int:
        """Retries a task gets by default: one per configured delay step unless set."""
        return len(self.retry_delays_ms) if self.max_retries is None else self.max_retries
