"""A processor's plain words ride with its progress (ProgressState.say)."""

from __future__ import annotations

from mediacraft.shared.worker.progress import ProgressState


def test_a_new_message_is_kept_and_reported_as_a_change() -> None:
    state = ProgressState()
    state.enter("process", 0.0)
    assert state.say("writing scene 1 of 3") and state.message == "writing scene 1 of 3"
    assert not state.say("writing scene 1 of 3")  # the same words again change nothing
    assert not state.say("   ")  # no words keep the last ones
    assert state.message == "writing scene 1 of 3"


def test_a_long_message_is_cut() -> None:
    state = ProgressState()
    assert state.say("x" * 1000) and state.message is not None and len(state.message) == 300
