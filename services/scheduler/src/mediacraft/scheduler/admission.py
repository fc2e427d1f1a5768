"""The scheduler's admission rule for new submissions, importable by the gateway (pure, no I/O).

Busy systems queue, they never reject; the only refusal is the optional cap on how many tasks one
user may have waiting. The gateway counts the user's waiting tasks in the store and asks this
rule, so the cap and its wording live in one place.
"""

from __future__ import annotations

from dataclasses import dataclass

from mediacraft.scheduler.queue_positions import SYSTEM_BUSY_MESSAGE, USER_BUSY_MESSAGE

TOO_MANY_WAITING = "too_many_waiting"


@dataclass(frozen=True)
class Refusal:
    """A submission refused with a stable code (HTTP 429) and a sentence for a person."""

    code: str
    message: str


def check_submission(
    *, waiting: int, running: int, max_waiting_per_user: int | None
) -> Refusal | None:
    """None when a user with `waiting` queued/retrying and `running` tasks may submit one more."""
    if max_waiting_per_user is None or waiting < max_waiting_per_user:
        return None
    why = USER_BUSY_MESSAGE if running else SYSTEM_BUSY_MESSAGE
    return Refusal(
        TOO_MANY_WAITING,
        f"{why}. You already have {waiting} tasks waiting, the most allowed; "
        "submit more when some have started.",
    )
