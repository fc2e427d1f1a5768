"""At most one last-seen write per user per interval, in bounded memory."""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime, timedelta


class SeenThrottle:
    """Remembers when each user's last-seen was last written; forgets the least recent first."""

    def __init__(self, interval: timedelta = timedelta(minutes=1), *, max_users: int = 100_000) -> None:
        self.interval = interval
        self._max_users = max_users
        self._written: OrderedDict[str, datetime] = OrderedDict()

    def due(self, user_id: str, at: datetime) -> bool:
        """True when a write for `user_id` at `at` should happen now (and records it)."""
        last = self._written.get(user_id)
        if last is not None and at - last < self.interval:
            return False
        self.record(user_id, at)
        return True

    def record(self, user_id: str, at: datetime) -> None:
        """Note a write that happened by other means (a new user starts with last_accessed set)."""
        self._written.pop(user_id, None)
        self._written[user_id] = at
        while len(self._written) > self._max_users:
            self._written.popitem(last=False)

    def forget(self, user_id: str) -> None:
        """Drop a user's entry, so that a failed write is tried again on the next event."""
        self._written.pop(user_id, None)
