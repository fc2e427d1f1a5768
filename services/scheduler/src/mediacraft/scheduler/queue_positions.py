"""Queue positions and the sentence a person reads while a task waits."""

from __future__ import annotations

from dataclasses import dataclass

from mediacraft.scheduler.fairness import FairQueue
from mediacraft.scheduler.quotas import Block, Quotas, Usage, blocked_by
from mediacraft.shared.admission import SYSTEM_BUSY_MESSAGE, USER_BUSY_MESSAGE

MESSAGES = {Block.USER: USER_BUSY_MESSAGE, Block.SYSTEM: SYSTEM_BUSY_MESSAGE}


def waiting_message(block: Block | None) -> str:
    """The sentence for a waiting task; a task with no block is only behind others' turns."""
    return MESSAGES[block or Block.SYSTEM]


@dataclass(frozen=True)
class Standing:
    """Where a waiting task stands: 1 starts next; the message says why it waits."""

    position: int
    message: str


def standings(queue: FairQueue, quotas: Quotas, usage: Usage, limit: int | None = None) -> dict[str, Standing]:
    """Position and message of each waiting task (the first `limit` in projected order).

    The position projects plain round-robin over the current line; quotas change the real order
    only by holding a user back, so it is an estimate that is exact when every user may run.
    """
    result: dict[str, Standing] = {}
    messages: dict[tuple[str, str], str] = {}  # the reason depends only on user and type
    for position, task in enumerate(queue.projected_order(limit), start=1):
        kind = (task.user_id, task.task_type)
        message = messages.get(kind)
        if message is None:
            message = messages[kind] = waiting_message(blocked_by(quotas, usage, task.user_id, task.task_type))
        result[task.task_id] = Standing(position, message)
    return result
