"""Wiring of the identity service as its own process: settings, adapters, API, inbox consumer."""

from __future__ import annotations

from datetime import timedelta

import uvicorn

from mediacraft.identity.api import create_app
from mediacraft.identity.service import IdentityService
from mediacraft.identity.settings import IdentitySettings
from mediacraft.identity.throttle import SeenThrottle
from mediacraft.shared.adapters.factory import make_bus, make_store
from mediacraft.shared.clock import SystemClock
from mediacraft.shared.logging import configure_logging
from mediacraft.shared.topology import build_topology


def build(settings: IdentitySettings):  # noqa: ANN201 - FastAPI app
    """The identity app with adapters from the settings' URLs, started and stopped by its lifespan."""
    clock = SystemClock()
    store = make_store(settings.store_url)
    bus = make_bus(
        settings.bus_url,
        topology=build_topology(settings.retry_delays_ms, settings.delivery_limit),
        clock=clock,
    )
    service = IdentityService(
        users=store,
        tasks=store,
        bus=bus,
        clock=clock,
        throttle=SeenThrottle(
            timedelta(seconds=settings.seen_write_interval_seconds), max_users=settings.seen_throttle_users
        ),
    )

    async def start() -> None:
        await store.start()
        await bus.start()

    async def stop() -> None:
        await bus.close()
        await store.close()

    return create_app(
        service,
        token=settings.identity_api_token,
        bus=bus,
        consume=True,
        prefetch=settings.inbox_prefetch,
        on_startup=start,
        on_shutdown=stop,
    )


def main() -> None:
    """Run the identity service with uvicorn."""
    settings = IdentitySettings()
    configure_logging(settings.log_level, json=settings.log_json, service=settings.service_name)
    uvicorn.run(build(settings), host=settings.http_host, port=settings.http_port, log_config=None, access_log=False)
