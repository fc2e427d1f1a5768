"""A lock that lets urgent holders go first: waiters are served by priority, then by arrival."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from contextlib import asynccontextmanager
from typing import AsyncIterator


class PriorityLock:
    """Like asyncio.Lock, but `hold(0)` overtakes every waiting `hold(1)`."""

    def __init__(self) -> None:
        self._locked = False
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    @property
    def waiting(self) -> int:
        """How many are queued for the lock."""
        return sum(1 for *_, fut in self._waiters if not fut.done())

    async def acquire(self, priority: int) -> None:
        """Wait for the lock; a lower number is served first."""
        if not self._locked and not self._waiters:
            self._locked = True
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (priority, next(self._seq), fut))
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.release()  # the lock was handed to us just as we were cancelled: pass it on
            raise

    def release(self) -> None:
        """Hand the lock to the most urgent waiter, or free it."""
        while self._waiters:
            _, _, fut = heapq.heappop(self._waiters)
            if not fut.done():
                fut.set_result(None)
                return
        self._locked = False

    @asynccontextmanager
    async def hold(self, priority: int) -> AsyncIterator[None]:
        """Hold the lock for a block."""
        await self.acquire(priority)
        try:
            yield
        finally:
            self.release()
