"""The adapters of one process, made from a settings object's URLs and shared by its services.

A service's `build(settings, adapters)` takes what it uses from here; each adapter is made the
first time a service asks for it, so a worker process never makes (or connects) a task store. The
single-process mode passes one `Adapters` to every service, so they share one in-process bus and
one store; a service run alone gets its own. `run_until_signal` starts them before the services
and closes them after.
"""

from __future__ import annotations

from mediacraft.shared.adapters.factory import make_bus, make_object_store, make_store
from mediacraft.shared.adapters.startup import START_ATTEMPTS, start_with_retries
from mediacraft.shared.clock import Clock, SystemClock
from mediacraft.shared.logging import get_logger
from mediacraft.shared.ports.bus import Bus
from mediacraft.shared.ports.objects import ObjectStore
from mediacraft.shared.ports.stores import Store
from mediacraft.shared.settings import BaseServiceSettings
from mediacraft.shared.topology import build_topology

log = get_logger("mediacraft.adapters")

OPTIONAL_ATTEMPTS = 3  # an optional adapter gets a few tries, then the process goes on without it


class Adapters:
    """Bus, store and object store of the settings' URLs, made on first use; one clock for all."""

    def __init__(
        self, settings: BaseServiceSettings, *, clock: Clock | None = None, optional: frozenset[str] = frozenset()
    ) -> None:
        """`optional` names adapters (`bus`) the process runs without when they cannot be reached."""
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.optional = optional
        self._bus: Bus | None = None
        self._store: Store | None = None
        self._objects: ObjectStore | None = None
        self._unavailable: set[str] = set()
        self._started: list[tuple[str, Bus | Store | ObjectStore]] = []

    @property
    def bus(self) -> Bus:
        """The bus, with the topology of the settings' retry delays and delivery limit."""
        if self._bus is None:
            topology = build_topology(tuple(self.settings.retry_delays_ms), self.settings.delivery_limit)
            self._bus = make_bus(self.settings.bus_url, topology=topology, clock=self.clock)
        return self._bus

    @property
    def store(self) -> Store:
        """The task, user and lease store."""
        if self._store is None:
            self._store = make_store(self.settings.store_url, clock=self.clock)
        return self._store

    @property
    def objects(self) -> ObjectStore:
        """The object store."""
        if self._objects is None:
            self._objects = make_object_store(self.settings.object_store_url)
        return self._objects

    def made(self) -> list[tuple[str, Bus | Store | ObjectStore]]:
        """The adapters made so far, by name, in start order."""
        pairs: list[tuple[str, Bus | Store | ObjectStore | None]] = [
            ("store", self._store), ("object store", self._objects), ("bus", self._bus),
        ]  # fmt: skip
        return [(name, adapter) for name, adapter in pairs if adapter is not None]

    def available(self, name: str) -> bool:
        """False when an optional adapter could not be started (the process runs without it)."""
        return name not in self._unavailable

    async def start(self, attempts: int = START_ATTEMPTS) -> None:
        """Start every adapter made so far, retrying while its server comes up (compose, Kubernetes)."""
        for name, adapter in self.made():
            if any(adapter is done for _, done in self._started):
                continue
            if name not in self.optional:
                await start_with_retries(adapter, name, attempts)
            else:
                try:
                    await start_with_retries(adapter, name, min(attempts, OPTIONAL_ATTEMPTS))
                except Exception as exc:
                    log.warning("adapters.running_without", adapter=name, error=repr(exc))
                    self._unavailable.add(name)
                    continue
            self._started.append((name, adapter))

    async def close(self) -> None:
        """Close what was started, in reverse start order."""
        while self._started:
            _, adapter = self._started.pop()
            await adapter.close()
