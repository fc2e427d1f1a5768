"""Wiring only: the gateway's settings, its app over the given adapters, and its HTTP server.

`build` is the one wiring of the gateway: its own process (`python -m mediacraft.gateway`, identity
over HTTP) and the single-process mode (identity in-process) both call it.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI

from mediacraft.gateway.app import create_app
from mediacraft.gateway.identity_client import HttpIdentityClient, IdentityClient
from mediacraft.gateway.settings import GatewaySettings
from mediacraft.shared import eventloop
from mediacraft.shared.adapters.bundle import Adapters
from mediacraft.shared.http_server import HttpServer
from mediacraft.shared.logging import configure_logging
from mediacraft.shared.metrics_server import MetricsServer
from mediacraft.shared.process import run_until_signal
from mediacraft.shared.published_secrets import refused_at_start
from mediacraft.shared.tracing import configure_tracing


class Gateway(HttpServer):
    """The gateway app served on the settings' host and port; closes its identity client last."""

    def __init__(self, settings: GatewaySettings, app: FastAPI, identity: IdentityClient) -> None:
        super().__init__(
            app, host=settings.http_host, port=settings.http_port,
            # SSE streams never end by themselves: they are ended first, and after this long
            # open uploads are cut
            graceful_seconds=settings.shutdown_grace_seconds, before_exit=app.state.ctx.hub.close,
            proxy_headers=True, forwarded_allow_ips=settings.forwarded_allow_ips,
        )  # fmt: skip
        self.settings = settings
        self.identity = identity
        # Prometheus text on a port of its own, never on the public app
        self.metrics = MetricsServer(
            app.state.ctx.metrics.registry, host=settings.metrics_host, port=settings.metrics_port
        )

    async def start(self) -> None:
        """Serve the API, then the metrics endpoint."""
        await super().start()
        try:
            self.metrics.start()
        except OSError:
            await super().stop()
            raise

    async def stop(self) -> None:
        """Stop serving, then close the metrics endpoint and the identity client."""
        try:
            await super().stop()
        finally:
            self.metrics.stop()
            await self.identity.close()


def build(settings: GatewaySettings, adapters: Adapters, *, identity: IdentityClient | None = None) -> Gateway:
    """The gateway over `adapters`; identity over HTTP at the settings' URL unless one is given."""
    if identity is None:
        identity = HttpIdentityClient(
            settings.identity_url, settings.identity_api_token, timeout=settings.identity_timeout_seconds
        )
    app = create_app(
        settings, store=adapters.store, objects=adapters.objects, bus=adapters.bus, identity=identity,
        clock=adapters.clock,
    )  # fmt: skip
    return Gateway(settings, app, identity)


def main() -> None:
    """Run the gateway until SIGTERM/SIGINT (`python -m mediacraft.gateway` or `mediacraft-gateway`)."""
    with refused_at_start("gateway"):
        settings = GatewaySettings()
    configure_logging(settings.log_level, json=settings.log_json, service=settings.service_name)
    configure_tracing(settings.service_name)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per identity call is noise
    adapters = Adapters(settings)
    eventloop.run(run_until_signal([build(settings, adapters)], adapters))
