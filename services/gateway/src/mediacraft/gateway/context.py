"""Everything a gateway handler may use, built once by `create_app` from already-built adapters."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypedDict

from mediacraft.gateway.cookies import CookiePolicy, CookieSigner
from mediacraft.gateway.events import EventHub
from mediacraft.gateway.identity_client import IdentityClient
from mediacraft.gateway.media_cache import MediaCache
from mediacraft.gateway.metrics import GatewayMetrics
from mediacraft.gateway.preview import FrameExtractor
from mediacraft.gateway.ratelimit import RateLimiter
from mediacraft.gateway.settings import GatewaySettings
from mediacraft.gateway.uploads import UploadReceiver
from mediacraft.shared.clock import Clock
from mediacraft.shared.logging import get_logger
from mediacraft.shared.messages import Envelope, Message
from mediacraft.shared.ports.bus import Bus
from mediacraft.shared.ports.objects import ObjectStore
from mediacraft.shared.ports.stores import ProjectStore, TaskStore

log = get_logger(__name__)


class KeyedLocks:
    """One asyncio.Lock per key, dropped when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


@dataclass
class GatewayContext:
    """The gateway's adapters, settings and per-replica state."""

    settings: GatewaySettings
    store: TaskStore
    projects: ProjectStore  # video-creation projects (the same database as the tasks in both adapters)
    objects: ObjectStore
    bus: Bus
    identity: IdentityClient
    clock: Clock
    metrics: GatewayMetrics
    signer: CookieSigner
    cookie: CookiePolicy
    cache: MediaCache
    receiver: UploadReceiver
    frames: FrameExtractor
    hub: EventHub
    ip_limiter: RateLimiter
    user_limiter: RateLimiter
    create_limiter: RateLimiter
    identity_limiter: RateLimiter
    seen_limiter: RateLimiter
    submit_locks: KeyedLocks = field(default_factory=KeyedLocks)
    draft_locks: KeyedLocks = field(default_factory=KeyedLocks)  # creates of one user (open-draft cap)
    _background: set[asyncio.Task[Any]] = field(default_factory=set)

    @property
    def max_upload_bytes(self) -> int:
        return min(self.settings.max_upload_bytes, self.receiver.limits.max_file_size)

    @property
    def duplicate_window(self) -> timedelta:
        return timedelta(seconds=self.settings.duplicate_window_seconds)

    async def publish(
        self,
        exchange: str,
        routing_key: str,
        message: Message,
        *,
        correlation_id: str | None = None,
        mandatory: bool = True,
    ) -> bool:
        """Publish and report success; a failure is logged and counted, never raised.

        A request is waiting, so the broker gets `publish_timeout_seconds` to confirm, not the
        bus's own timeout. The store is the source of truth: a lost nudge is repaired by the
        scheduler's reconcile, and callers whose answer depends on it say so.
        """
        try:
            await self.bus.publish(
                exchange,
                routing_key,
                Envelope.wrap(message, correlation_id=correlation_id),
                mandatory=mandatory,
                timeout=self.settings.publish_timeout_seconds,
            )
            return True
        except Exception as exc:
            self.metrics.publish_failures.inc()
            log.warning("publish_failed", type=message.TYPE, error=str(exc), task_id=correlation_id)
            return False

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run `coro` in the background, holding a reference until it ends."""
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def drain_background(self) -> None:
        """Wait for background work started with `spawn` (shutdown, tests)."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)


class Limiters(TypedDict):
    """The token buckets of one replica, by the context field each fills."""

    ip_limiter: RateLimiter
    user_limiter: RateLimiter
    create_limiter: RateLimiter
    identity_limiter: RateLimiter
    seen_limiter: RateLimiter


def make_limiters(settings: GatewaySettings, clock: Clock) -> Limiters:
    """The per-replica token buckets from the settings."""

    def now() -> float:
        return clock.now().timestamp()

    keys = settings.rate_limit_max_keys
    return {
        "ip_limiter": RateLimiter(settings.rate_ip_per_second, settings.rate_ip_burst, now=now, max_keys=keys),
        "user_limiter": RateLimiter(settings.rate_user_per_second, settings.rate_user_burst, now=now, max_keys=keys),
        "create_limiter": RateLimiter(
            settings.rate_create_per_second, settings.rate_create_burst, now=now, max_keys=keys
        ),
        "identity_limiter": RateLimiter(
            settings.new_identities_per_ip_per_minute / 60.0,
            settings.new_identities_per_ip_burst,
            now=now,
            max_keys=keys,
        ),
        "seen_limiter": RateLimiter(1.0 / settings.seen_interval_seconds, 1, now=now, max_keys=keys),
    }
