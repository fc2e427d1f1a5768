"""Starting adapters whose servers may come up after the service (compose, Kubernetes)."""

from __future__ import annotations

import asyncio
from typing import Any

from mediacraft.shared.logging import get_logger

log = get_logger("mediacraft.startup")

START_ATTEMPTS = 30


async def start_with_retries(component: Any, name: str, attempts: int = START_ATTEMPTS) -> None:
    """Call `component.start()`, retrying with a growing pause (capped at 2 s) before giving up."""
    for attempt in range(1, attempts + 1):
        try:
            await component.start()
            return
        except Exception as exc:
            if attempt == attempts:
                raise
            log.warning("startup.waiting_for", component=name, attempt=attempt, error=repr(exc))
            await asyncio.sleep(min(2.0, 0.2 * attempt))
