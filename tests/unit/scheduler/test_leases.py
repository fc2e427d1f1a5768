"""Lease arithmetic on an injected clock: extension, the run-time cap, takeover grace, lapse codes."""

from __future__ import annotations

from datetime import timedelta

from mediacraft.scheduler.leases import TIMED_OUT, WORKER_LOST, WORKER_NOT_STARTED, LeasePolicy, lapse_message
from mediacraft.shared.clock import FakeClock
from mediacraft.shared.tasks import TaskType

MERGE = TaskType.VIDEO_MERGE
IMAGE = TaskType.IMAGE_GENERATION
POLICY = LeasePolicy(lease_seconds=60, max_run_seconds=600, max_run_per_type={IMAGE: 90}, start_timeout_seconds=300)


async def test_news_from_the_worker_extends_the_lease_from_now() -> None:
    clock = FakeClock()
    started = clock.now()
    lease = POLICY.extend(clock.now(), started, MERGE)
    assert lease == started + timedelta(seconds=60)
    await clock.advance(59)
    assert not POLICY.lapsed(lease, clock.now())
    lease = POLICY.extend(clock.now(), started, MERGE)
    await clock.advance(59)
    assert not POLICY.lapsed(lease, clock.now())
    await clock.advance(1)
    assert POLICY.lapsed(lease, clock.now())
    assert POLICY.lapse_code(clock.now(), started, MERGE) == WORKER_LOST


async def test_heartbeats_never_carry_a_lease_past_the_types_run_limit() -> None:
    clock = FakeClock()
    started = clock.now()
    await clock.advance(80)
    lease = POLICY.extend(clock.now(), started, IMAGE)
    assert lease == started + timedelta(seconds=90)
    await clock.advance(10)
    assert POLICY.lapsed(lease, clock.now())
    assert POLICY.lapse_code(clock.now(), started, IMAGE) == TIMED_OUT
    assert lapse_message(TIMED_OUT, IMAGE, POLICY) == "The task ran longer than the limit of 90 seconds."


async def test_a_new_active_scheduler_grants_one_lease_of_grace_but_never_shortens() -> None:
    clock = FakeClock()
    started = clock.now()
    stale = started + timedelta(seconds=5)
    await clock.advance(30)
    assert POLICY.after_takeover(stale, clock.now(), started, MERGE) == clock.now() + timedelta(seconds=60)
    later = clock.now() + timedelta(seconds=500)
    assert POLICY.after_takeover(later, clock.now(), started, MERGE) == later
    assert POLICY.after_takeover(None, clock.now(), started, MERGE) == clock.now() + timedelta(seconds=60)


def test_the_store_is_rewritten_only_when_it_lags_half_a_lease() -> None:
    now = FakeClock().now()
    assert POLICY.store_lags(None, now)
    assert not POLICY.store_lags(now, now + timedelta(seconds=29))
    assert POLICY.store_lags(now, now + timedelta(seconds=30))


async def test_a_dispatched_job_may_wait_for_a_worker_until_the_start_timeout() -> None:
    clock = FakeClock()
    dispatched = clock.now()
    lease = POLICY.at_dispatch(dispatched)
    await clock.advance(299)  # far beyond one lease: the job waits in its pool's queue
    assert not POLICY.lapsed(lease, clock.now())
    await clock.advance(1)
    assert POLICY.lapsed(lease, clock.now())
    assert POLICY.lapse_code(clock.now(), dispatched, MERGE, worker_started=False) == WORKER_NOT_STARTED
    assert lapse_message(WORKER_NOT_STARTED, MERGE, POLICY) == "No worker took the task within 5 minutes."
