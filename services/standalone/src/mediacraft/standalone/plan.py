"""What the local modes set on top of the environment, in one place for both of them.

Every service reads its own Settings from the environment in every mode; the single-process mode
and the local stack only add what the mode itself decides (ports, work directories, worker ids,
pool quotas), here. The single-process mode passes these values to the Settings classes
directly; the local stack turns them into environment variables for its child processes with
`environment_of`, whose names come from the Settings classes rather than from a second hand-written
list.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel
from pydantic_settings import BaseSettings

T = TypeVar("T", bound=BaseModel)


def pool_quota(configured: Mapping[str, int], workers: Mapping[str, int]) -> dict[str, int]:
    """Never dispatch more jobs to a pool than it has workers: a task dispatched to a busy pool
    would show as processing (its lease running) while it only waits for a worker."""
    return {pool: min(configured.get(pool, n), n) for pool, n in workers.items() if n > 0}


def settings_of(make: Callable[..., T], values: Mapping[str, Any], defaults: Mapping[str, Any] | None = None) -> T:
    """Settings from the environment with `values` on top, and `defaults` where the environment
    sets nothing (the mode's choice, which an operator may still override)."""
    settings = make(**values)
    unset = {key: value for key, value in (defaults or {}).items() if key not in settings.model_fields_set}
    return make(**values, **unset) if unset else settings


def environment_of(settings: type[BaseSettings], **values: Any) -> dict[str, str]:
    """`values` as the environment variables that give them to `settings` (its prefix, its field
    names; lists and mappings as JSON, tuples as comma lists). An unknown name is an error."""
    prefix = str(settings.model_config.get("env_prefix", ""))
    env: dict[str, str] = {}
    for name, value in values.items():
        if name not in settings.model_fields:
            raise KeyError(f"{settings.__name__} has no setting {name!r}")
        env[f"{prefix}{name}".upper()] = _as_text(value)
    return env


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)
