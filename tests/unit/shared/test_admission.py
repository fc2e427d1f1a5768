"""The waiting cap: who may submit one more task, and what a refused person reads."""

from __future__ import annotations

from mediacraft.shared.admission import (
    SYSTEM_BUSY_MESSAGE,
    TOO_MANY_WAITING,
    USER_BUSY_MESSAGE,
    check_counts,
    check_submission,
)


def test_the_waiting_cap_refuses_with_the_reason_only_when_set_and_reached() -> None:
    assert check_submission(waiting=50, running=1, max_waiting_per_user=None) is None
    assert check_submission(waiting=2, running=1, max_waiting_per_user=3) is None
    refusal = check_submission(waiting=3, running=1, max_waiting_per_user=3)
    assert refusal is not None and refusal.code == TOO_MANY_WAITING
    assert refusal.message.startswith(USER_BUSY_MESSAGE)
    assert "You already have 3 tasks waiting" in refusal.message
    idle = check_submission(waiting=3, running=0, max_waiting_per_user=3)
    assert idle is not None and idle.message.startswith(SYSTEM_BUSY_MESSAGE)


def test_queued_and_retrying_count_as_waiting_processing_and_cancelling_as_running() -> None:
    counts = {"queued": 1, "retrying": 1, "completed": 40, "uploaded": 5}
    assert check_counts(counts, max_waiting_per_user=3) is None
    refused = check_counts(counts, max_waiting_per_user=2)
    assert refused is not None and refused.message.startswith(SYSTEM_BUSY_MESSAGE)
    busy = check_counts({**counts, "cancelling": 1}, max_waiting_per_user=2)
    assert busy is not None and busy.message.startswith(USER_BUSY_MESSAGE)
    assert check_counts(counts, max_waiting_per_user=None) is None
