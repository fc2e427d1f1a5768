"""Wiring only: the identity service over the given adapters, its inbox consumer, its HTTP API.

`build` is the one wiring of identity: its own process (`python -m mediacraft.identity`, API on
MEDIACRAFT_HTTP_PORT) and the single-process mode (no API: the gateway calls `service` in-process)
both call it, so both run with the same settings (the last-seen throttle among them).
"""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI

from mediacraft.identity.api import create_app
from mediacraft.identity.handlers import subscribe
from mediacraft.identity.metrics import identity_registry
from mediacraft.identity.service import IdentityService
from mediacraft.identity.settings import IdentitySettings
from mediacraft.identity.throttle import SeenThrottle
from mediacraft.shared import eventloop
from mediacraft.shared.adapters.bundle import Adapters
from mediacraft.shared.http_server import HttpServer
from mediacraft.shared.logging import configure_logging
from mediacraft.shared.metrics_server import MetricsServer
from mediacraft.shared.ports.bus import Bus, Subscription
from mediacraft.shared.process import BasePart, run_until_signal
from mediacraft.shared.published_secrets import refused_at_start
from mediacraft.shared.tracing import configure_tracing


class Identity(BasePart):
    """The identity service consuming identity.inbox, and its API when it is served over HTTP."""

    def __init__(self, settings: IdentitySettings, service: IdentityService, bus: Bus, *, http: bool) -> None:
        self.settings = settings
        self.service = service
        self.bus = bus
        self.app: FastAPI = create_app(service, token=settings.identity_api_token, bus=bus)  # bus: for /readyz
        self.server: HttpServer | None = None
        self.metrics: MetricsServer | None = None
        if http:
            self.server = HttpServer(self.app, host=settings.http_host, port=settings.http_port, graceful_seconds=5.0)
            # Prometheus text on a port of its own, not on the API port
            self.metrics = MetricsServer(
                identity_registry(service), host=settings.metrics_host, port=settings.metrics_port
            )
        self._inbox: Subscription | None = None

    async def start(self) -> None:
        """Consume the inbox, then answer HTTP."""
        self._inbox = await subscribe(self.bus, self.service, prefetch=self.settings.inbox_prefetch)
        if self.server is not None:
            await self.server.start()
        if self.metrics is not None:
            self.metrics.start()

    def hold(self) -> None:
        """Answer no new HTTP requests."""
        if self.server is not None:
            self.server.hold()

    async def stop(self) -> None:
        """Stop the API, then the inbox consumer."""
        if self.server is not None:
            await self.server.stop()
        if self.metrics is not None:
            self.metrics.stop()
        if self._inbox is not None:
            await self._inbox.cancel()
            self._inbox = None

    async def ended(self) -> None:
        """Return when the HTTP server stopped on its own."""
        if self.server is None:
            await super().ended()
        else:
            await self.server.ended()


def build(settings: IdentitySettings, adapters: Adapters, *, http: bool = True) -> Identity:
    """Identity over `adapters`; with `http`, its API served on the settings' host and port."""
    interval = timedelta(seconds=settings.seen_write_interval_seconds)
    throttle = SeenThrottle(interval, max_users=settings.seen_throttle_users)
    service = IdentityService(
        users=adapters.store,
        tasks=adapters.store,
        bus=adapters.bus,
        clock=adapters.clock,
        throttle=throttle,
        publish_timeout=settings.publish_timeout_seconds,
    )
    return Identity(settings, service, adapters.bus, http=http)


def main() -> None:
    """Run the identity service until SIGTERM/SIGINT (`python -m mediacraft.identity`)."""
    with refused_at_start("identity"):
        settings = IdentitySettings()
    configure_logging(settings.log_level, json=settings.log_json, service=settings.service_name)
    configure_tracing(settings.service_name)
    adapters = Adapters(settings)
    eventloop.run(run_until_signal([build(settings, adapters)], adapters))
