"""Anonymous users: mint ids, describe a user with task statistics, record last-seen."""

from __future__ import annotations

import uuid
from typing import Any

from mediacraft.identity.throttle import SeenThrottle
from mediacraft.shared.clock import Clock
from mediacraft.shared.errors import Conflict
from mediacraft.shared.logging import get_logger
from mediacraft.shared.messages import Envelope, UserCreated
from mediacraft.shared.ports.bus import Bus
from mediacraft.shared.ports.stores import TaskStore, UserStore
from mediacraft.shared.tasks import ACTIVE_STATUSES, DRAFT_STATUSES, TERMINAL_STATUSES, User
from mediacraft.shared.topology import EVENTS

log = get_logger(__name__)


class IdentityService:
    """The identity domain; the HTTP API and the bus handlers both call it."""

    def __init__(
        self,
        *,
        users: UserStore,
        tasks: TaskStore,
        bus: Bus | None,
        clock: Clock,
        throttle: SeenThrottle | None = None,
        publish_timeout: float = 3.0,
    ) -> None:
        """`publish_timeout`: the longest wait for the broker while a new identity is answered."""
        self.users = users
        self.publish_timeout = publish_timeout
        self.tasks = tasks
        self.bus = bus
        self.clock = clock
        self.throttle = throttle or SeenThrottle()
        self.minted = 0
        self.seen_writes = 0

    async def mint(self) -> User:
        """Create a new anonymous user with a random id and announce it.

        The record is the identity; `user.created` only informs (its one consumer, identity's own
        inbox, makes sure the record exists, which it does). So the announcement waits at most
        `publish_timeout` for the broker and a failed one is logged, never raised: the caller gets
        the user it asked for (under the gateway's identity timeout) and no record is left without
        the cookie that names it.
        """
        now = self.clock.now()
        user = await self.users.create_user(User(user_id=uuid.uuid4().hex, created_at=now, last_accessed=now))
        self.throttle.record(user.user_id, now)
        self.minted += 1
        if self.bus is not None:
            try:
                await self.bus.publish(
                    EVENTS,
                    UserCreated.TYPE,
                    Envelope.wrap(UserCreated(user_id=user.user_id)),
                    timeout=self.publish_timeout,
                )
            except Exception as exc:  # the record is the truth; the event only informs
                log.warning("user_created_publish_failed", user_id=user.user_id, error=str(exc))
        return user

    async def ensure(self, user_id: str) -> User:
        """The user's record, recreated if it was lost (the id came from a signed cookie)."""
        user = await self.users.get_user(user_id)
        if user is not None:
            return user
        now = self.clock.now()
        try:
            return await self.users.create_user(User(user_id=user_id, created_at=now, last_accessed=now))
        except Conflict:
            found = await self.users.get_user(user_id)
            if found is None:  # created and removed between our two reads: give up this once
                raise
            return found

    async def info(self, user_id: str) -> dict[str, Any]:
        """The user's record with task statistics, as JSON."""
        user = await self.ensure(user_id)
        counts = await self.tasks.count_by_status(user_id, include_hidden=True)
        stats = {
            "total": sum(counts.values()),
            "by_status": counts,
            "drafts": sum(counts.get(s.value, 0) for s in DRAFT_STATUSES),
            "active": sum(counts.get(s.value, 0) for s in ACTIVE_STATUSES),
            "finished": sum(counts.get(s.value, 0) for s in TERMINAL_STATUSES),
        }
        return {**user.model_dump(mode="json"), "stats": stats}

    async def record_seen(self, user_id: str, at: Any) -> bool:
        """Write last-seen unless one was written within the throttle interval; True when written."""
        if not self.throttle.due(user_id, at):
            return False
        try:
            if not await self.users.touch_user(user_id, at):
                await self.ensure(user_id)
                await self.users.touch_user(user_id, at)
        except Exception:
            self.throttle.forget(user_id)
            raise
        self.seen_writes += 1
        return True

    async def ping(self) -> bool:
        """True when the user store answers."""
        return await self.users.ping()
