"""The pass lease: renewed only every third of its ttl, lost when another holder took it."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from mediacraft.cleanup.lease import LeaseLost, PassLease
from mediacraft.shared.clock import FakeClock


class FakeLeaseStore:
    """The LeaseStore port in memory, on the test's clock, counting its calls."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.leases: dict[str, tuple[str, datetime]] = {}
        self.calls = 0

    async def acquire_lease(self, name: str, holder: str, *, ttl_seconds: float) -> bool:
        self.calls += 1
        current = self.leases.get(name)
        if current is not None and current[0] != holder and current[1] > self.clock.now():
            return False
        self.leases[name] = (holder, self.clock.now() + timedelta(seconds=ttl_seconds))
        return True

    async def release_lease(self, name: str, holder: str) -> bool:
        if self.leases.get(name, ("",))[0] != holder:
            return False
        del self.leases[name]
        return True


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def lease(store: FakeLeaseStore, holder: str, clock: FakeClock) -> PassLease:
    return PassLease(store, name="cleanup", holder=holder, ttl=timedelta(seconds=90), clock=clock)


async def test_keeping_the_lease_writes_only_once_a_third_of_the_ttl_has_passed(clock: FakeClock) -> None:
    store = FakeLeaseStore(clock)
    mine = lease(store, "a", clock)
    assert await mine.acquire() and store.calls == 1
    for _ in range(29):
        await clock.advance(1)
        await mine.keep()
    assert store.calls == 1
    await clock.advance(1)
    await mine.keep()
    assert store.calls == 2 and mine.renewals == 1
    assert store.leases["cleanup"] == ("a", clock.now() + timedelta(seconds=90))


async def test_a_lease_taken_over_after_it_lapsed_stops_the_old_holder(clock: FakeClock) -> None:
    store = FakeLeaseStore(clock)
    frozen, other = lease(store, "a", clock), lease(store, "b", clock)
    assert await frozen.acquire()
    assert not await other.acquire()
    await clock.advance(91)  # the holder froze past its ttl
    assert await other.acquire()
    with pytest.raises(LeaseLost):
        await frozen.keep()
    assert not frozen.held
    await frozen.release()  # nothing to give back: the other holder keeps it
    assert store.leases["cleanup"][0] == "b"


async def test_release_frees_the_lease_for_the_next_replica(clock: FakeClock) -> None:
    store = FakeLeaseStore(clock)
    first, second = lease(store, "a", clock), lease(store, "b", clock)
    assert await first.acquire()
    await first.release()
    assert "cleanup" not in store.leases
    assert await second.acquire()
