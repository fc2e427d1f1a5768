"""The inbox lock serves worker events before waiting commands, and otherwise in arrival order."""

from __future__ import annotations

import asyncio

from mediacraft.scheduler.priority_lock import PriorityLock


async def test_urgent_waiters_overtake_and_equals_keep_their_order() -> None:
    lock = PriorityLock()
    order: list[str] = []
    await lock.acquire(1)

    async def take(name: str, priority: int) -> None:
        async with lock.hold(priority):
            order.append(name)

    waiters = [asyncio.create_task(take(name, prio)) for name, prio in
               (("submit-1", 1), ("submit-2", 1), ("job-finished", 0), ("tick", 0))]
    await asyncio.sleep(0)
    assert lock.waiting == 4
    lock.release()
    await asyncio.gather(*waiters)
    assert order == ["job-finished", "tick", "submit-1", "submit-2"]
    assert lock.waiting == 0


async def test_a_cancelled_waiter_does_not_keep_the_lock() -> None:
    lock = PriorityLock()
    await lock.acquire(1)
    doomed = asyncio.create_task(lock.acquire(0))
    await asyncio.sleep(0)
    doomed.cancel()
    await asyncio.gather(doomed, return_exceptions=True)
    lock.release()
    await asyncio.wait_for(lock.acquire(1), timeout=1)  # free again, not held by the cancelled one
    lock.release()
