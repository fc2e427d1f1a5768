"""Wiring of the gateway as its own process: settings, adapters from URLs, identity over HTTP."""

from __future__ import annotations

import logging

import uvicorn
from fastapi import FastAPI

from mediacraft.gateway.app import create_app
from mediacraft.gateway.identity_client import HttpIdentityClient
from mediacraft.gateway.settings import GatewaySettings
from mediacraft.shared.adapters.factory import make_bus, make_object_store, make_store
from mediacraft.shared.clock import SystemClock
from mediacraft.shared.logging import configure_logging
from mediacraft.shared.topology import build_topology


def build(settings: GatewaySettings) -> FastAPI:
    """The gateway app with its adapters built from the settings' URLs (started by its lifespan)."""
    clock = SystemClock()
    topology = build_topology(settings.retry_delays_ms, settings.delivery_limit)
    return create_app(
        settings,
        store=make_store(settings.store_url),
        objects=make_object_store(settings.object_store_url),
        bus=make_bus(settings.bus_url, topology=topology, clock=clock),
        identity=HttpIdentityClient(
            settings.identity_url, settings.identity_api_token, timeout=settings.identity_timeout_seconds
        ),
        clock=clock,
        manage_adapters=True,
    )


def main() -> None:
    """Run the gateway with uvicorn (`python -m mediacraft.gateway` or `mediacraft-gateway`)."""
    settings = GatewaySettings()
    configure_logging(settings.log_level, json=settings.log_json, service=settings.service_name)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per identity call is noise
    uvicorn.run(
        build(settings),
        host=settings.http_host,
        port=settings.http_port,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        log_config=None,
        access_log=False,
        # SSE streams never end by themselves: after this long, shutdown cancels them
        timeout_graceful_shutdown=settings.shutdown_grace_seconds,
    )
