"""One cleanup pass at a time across replicas: a lease row (SQLite) or document (MongoDB) in the
task store, taken with one conditional write (`LeaseStore` in shared/ports/stores.py).

Why a lease in the store rather than RabbitMQ's single-active-consumer:
- the one-shot mode (a Kubernetes CronJob) has no long-lived consumer that could be the active
  one, and a CronJob run may overlap a long-running replica or a lingering earlier run: the lease
  covers every mix of the two modes;
- single-active-consumer decides who receives messages, not who may act: a replica whose consumer
  was replaced (a broker failover) is not told so and could go on deleting, while a lease is
  checked again before each batch of work;
- it works unchanged with the embedded adapters (SQLite, the memory bus) on a laptop;
- the fence sits next to the data cleanup changes, in the one system every replica must reach.

The holder renews whenever a third of the ttl has passed (between pages and between removals);
a refused renewal raises LeaseLost and the pass stops. A holder that crashes leaves a lease that
lapses after the ttl. What remains, a holder frozen for longer than the ttl between a renewal and
its next write, is harmless: every task change is a compare-and-set on the version the pass read,
and deleting an object twice, or an orphan that another pass also found, changes nothing.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import datetime, timedelta

from mediacraft.shared.clock import Clock
from mediacraft.shared.errors import MediaCraftError
from mediacraft.shared.logging import get_logger
from mediacraft.shared.ports.stores import LeaseStore

log = get_logger("mediacraft.cleanup.lease")


class LeaseLost(MediaCraftError):
    """Another replica holds the cleanup lease now: this pass must stop."""

    code = "lease_lost"


def default_holder() -> str:
    """An id unique to this process: host, pid and a random part (pids repeat across pods)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class PassLease:
    """The cleanup lease as one pass holds it: acquire, keep while working, release."""

    def __init__(self, store: LeaseStore, *, name: str, holder: str, ttl: timedelta, clock: Clock) -> None:
        self.store = store
        self.name = name
        self.holder = holder
        self.ttl = ttl
        self.clock = clock
        self.held = False
        self.renewals = 0
        self._renewed_at: datetime | None = None

    async def acquire(self) -> bool:
        """Take the lease (or renew ours); False when another replica holds it."""
        self.held = await self.store.acquire_lease(self.name, self.holder, ttl_seconds=self.ttl.total_seconds())
        if self.held:
            self._renewed_at = self.clock.now()
        return self.held

    async def keep(self) -> None:
        """Renew when a third of the ttl has passed since the last renewal; LeaseLost if refused."""
        if self._renewed_at is not None and self.clock.now() - self._renewed_at < self.ttl / 3:
            return
        if not await self.acquire():
            raise LeaseLost(f"lease {self.name!r} was taken over by another replica")
        self.renewals += 1

    async def release(self) -> None:
        """Give the lease up; when the store does not answer it lapses after the ttl instead."""
        if not self.held:
            return
        self.held = False
        try:
            await self.store.release_lease(self.name, self.holder)
        except Exception as exc:  # any store error: the ttl frees the lease anyway
            log.warning("cleanup.lease_release_failed", lease=self.name, error=repr(exc))
