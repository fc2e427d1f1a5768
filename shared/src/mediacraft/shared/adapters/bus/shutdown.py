"""Ending the tasks a bus adapter started, with a grace period for handlers to settle."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable


async def finish(tasks: Iterable[asyncio.Task[None]], grace: float) -> None:
    """Wait up to `grace` seconds for tasks, then cancel what is left and wait for that too."""
    current = asyncio.current_task()
    pending = {t for t in tasks if t is not current and not t.done()}
    if not pending:
        return
    if grace > 0:
        _, pending = await asyncio.wait(pending, timeout=grace)
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.gather(*pending, return_exceptions=True)
