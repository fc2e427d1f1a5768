"""At most one last-seen write per user per interval."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mediacraft.identity.throttle import SeenThrottle

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def test_one_write_per_user_per_interval() -> None:
    throttle = SeenThrottle(timedelta(minutes=1))
    assert throttle.due("u", T0)
    assert not throttle.due("u", T0 + timedelta(seconds=59))
    assert throttle.due("u", T0 + timedelta(seconds=60))
    assert throttle.due("v", T0 + timedelta(seconds=1))


def test_a_recorded_write_counts_and_a_forgotten_one_does_not() -> None:
    throttle = SeenThrottle(timedelta(minutes=1))
    throttle.record("u", T0)
    assert not throttle.due("u", T0 + timedelta(seconds=1))
    throttle.forget("u")
    assert throttle.due("u", T0 + timedelta(seconds=2))


def test_memory_is_bounded() -> None:
    throttle = SeenThrottle(max_users=10)
    for i in range(100):
        throttle.due(f"u{i}", T0)
    assert throttle.due("u0", T0)  # forgotten, so due again
    assert len(throttle._written) == 10
