"""Records the operator console and the scheduler share through the store (`TaskStore.put_record`).

`quotas`: the quota overrides an operator set at run time. The console writes it and then sends
ApplyQuotas; the active scheduler reads it on that command, on every takeover and at each periodic
reconcile, so a lost command or a scheduler restart loses nothing, and a standby that takes over
applies it before its first dispatch. An unset field means the scheduler's own setting.

`scheduler.pools`: what the active scheduler sees of each pool (waiting by reason, running, workers
heard from), written by it every few seconds for the console to show.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from mediacraft.shared.topology import POOLS

QUOTAS_RECORD = "quotas"
POOLS_RECORD = "scheduler.pools"


class QuotaOverrides(BaseModel):
    """Running-task limits set at run time; None (or a pool left out) keeps the configured value.

    0 is allowed and pauses: nothing (of that user, that pool, or at all) starts until it is raised.
    """

    model_config = ConfigDict(extra="forbid")

    per_user: int | None = Field(default=None, ge=0, le=100_000)
    total: int | None = Field(default=None, ge=0, le=100_000)
    per_pool: dict[str, int] = Field(default_factory=dict)
    updated_at: datetime | None = None
    updated_by: str | None = None

    @field_validator("per_pool")
    @classmethod
    def _known_pools(cls, value: dict[str, int]) -> dict[str, int]:
        unknown = sorted(set(value) - set(POOLS))
        if unknown:
            raise ValueError(f"unknown pools: {', '.join(unknown)} (pools: {', '.join(POOLS)})")
        if any(not 0 <= limit <= 100_000 for limit in value.values()):
            raise ValueError("a pool quota is a whole number from 0 to 100000")
        return value


class PoolFigures(BaseModel):
    """One pool as the active scheduler sees it."""

    pool: str
    waiting: int = 0
    waiting_by_reason: dict[str, int] = Field(default_factory=dict)
    running: int = 0
    workers_alive: int = 0
    workers: list[str] = Field(default_factory=list)


class PoolsSnapshot(BaseModel):
    """The `scheduler.pools` record: every pool, the quotas in effect, and when it was written."""

    written_at: datetime
    pools: list[PoolFigures]
    quotas: dict[str, object] = Field(default_factory=dict)
    running_total: int = 0
    waiting_total: int = 0
    workers_by_task: dict[str, str] = Field(default_factory=dict)  # running task -> its worker
