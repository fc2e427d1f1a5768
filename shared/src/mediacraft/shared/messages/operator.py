"""Commands an operator sends to the scheduler from the console (mediacraft.commands -> scheduler.inbox).

A person's own cancel and retry are the catalogue's CancelTask and RetryTask, which the console
sends too; these two have no user-facing counterpart.
"""

from __future__ import annotations

from mediacraft.shared.messages.envelope import Message

__all__ = ["ApplyQuotas", "PrioritiseTask"]


class PrioritiseTask(Message):
    """Move a waiting task to the front: its user is served next, and it goes first in its user's line."""

    TYPE = "task.prioritise"
    task_id: str


class ApplyQuotas(Message):
    """The quotas record in the store changed: read it and apply it from the next dispatch on."""

    TYPE = "scheduler.apply_quotas"
