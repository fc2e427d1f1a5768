"""Quota decisions: may a task of this user, type and pool start now, and if not, why not."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TypeVar

from mediacraft.shared.tasks import POOL_OF_TYPE, TaskType


class Block(StrEnum):
    """Why a waiting task cannot start; the order of checks makes the user's own quota win."""

    USER = "user_busy"
    SYSTEM = "system_busy"


@dataclass(frozen=True)
class Quotas:
    """Running-task limits: per user, overall, and optionally per task type and per worker pool."""

    per_user: int = 1
    total: int = 5
    per_type: Mapping[TaskType, int] = field(default_factory=dict)
    per_pool: Mapping[str, int] = field(default_factory=dict)


@dataclass
class Usage:
    """Running-task counters; `add` and `remove` must pair up exactly once per running attempt."""

    total: int = 0
    by_user: Counter[str] = field(default_factory=Counter)
    by_type: Counter[TaskType] = field(default_factory=Counter)
    by_pool: Counter[str] = field(default_factory=Counter)

    def add(self, user_id: str, task_type: TaskType) -> None:
        """Count one more running task."""
        self.total += 1
        self.by_user[user_id] += 1
        self.by_type[task_type] += 1
        self.by_pool[POOL_OF_TYPE[task_type]] += 1

    def remove(self, user_id: str, task_type: TaskType) -> None:
        """Count one running task fewer."""
        self.total -= 1
        _decrement(self.by_user, user_id)
        _decrement(self.by_type, task_type)
        _decrement(self.by_pool, POOL_OF_TYPE[task_type])


_Key = TypeVar("_Key")


def _decrement(counter: Counter[_Key], key: _Key) -> None:
    counter[key] -= 1
    if counter[key] <= 0:
        del counter[key]


def user_block(quotas: Quotas, usage: Usage, user_id: str) -> Block | None:
    """The block that applies to every task of this user whatever its type, if any."""
    if usage.by_user[user_id] >= quotas.per_user:
        return Block.USER
    if usage.total >= quotas.total:
        return Block.SYSTEM
    return None


def blocked_by(quotas: Quotas, usage: Usage, user_id: str, task_type: TaskType) -> Block | None:
    """None when a task may start now, else the reason it must wait."""
    block = user_block(quotas, usage, user_id)
    if block is not None:
        return block
    type_limit = quotas.per_type.get(task_type)
    if type_limit is not None and usage.by_type[task_type] >= type_limit:
        return Block.SYSTEM
    pool = POOL_OF_TYPE[task_type]
    pool_limit = quotas.per_pool.get(pool)
    if pool_limit is not None and usage.by_pool[pool] >= pool_limit:
        return Block.SYSTEM
    return None
