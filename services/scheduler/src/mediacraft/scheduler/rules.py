"""The scheduler's rules as one value built from Settings: quotas, retries, leases, timers."""

from __future__ import annotations

from dataclasses import dataclass

from mediacraft.scheduler.leases import LeasePolicy
from mediacraft.scheduler.quotas import Quotas
from mediacraft.scheduler.retry_policy import RetryPolicy
from mediacraft.scheduler.settings import Settings


@dataclass(frozen=True)
class Rules:
    """Everything a handler needs to decide, and nothing it needs to do I/O."""

    quotas: Quotas
    retry: RetryPolicy
    lease: LeasePolicy
    progress_throttle_seconds: float = 1.0
    retry_grace_seconds: float = 1.0
    max_retries: int = 3  # the retry budget: written on each task at dispatch
    detection_concurrency: int = 2  # watermark detection jobs running at once, all users together
    detection_timeout_seconds: float = 300.0  # a detection slot is freed if no answer came by then

    @classmethod
    def from_settings(cls, settings: Settings) -> Rules:
        """Rules as configured."""
        return cls(
            quotas=Quotas(
                per_user=settings.quota_per_user,
                total=settings.quota_global,
                per_type=dict(settings.quota_per_type),
                per_pool=dict(settings.quota_per_pool),
            ),
            retry=RetryPolicy(tuple(settings.retry_delays_ms)),
            lease=LeasePolicy(
                lease_seconds=settings.lease_seconds,
                max_run_seconds=settings.max_run_seconds,
                max_run_per_type=dict(settings.max_run_seconds_per_type),
                start_timeout_seconds=settings.start_timeout_seconds,
            ),
            progress_throttle_seconds=settings.progress_throttle_seconds,
            max_retries=settings.effective_max_retries,
            detection_concurrency=settings.detection_concurrency,
            detection_timeout_seconds=settings.detection_timeout_seconds,
            # the delayed message normally arrives on time; the reconcile steps in only after this
            retry_grace_seconds=max(1.0, 2 * settings.tick_seconds),
        )
