"""The gateway app factory: takes already-built adapters, so that `main` (own process, adapters
from URLs) and a single-process composition root (embedded adapters, in-process identity) wire it
the same way."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from functools import partial
from typing import Any, cast

from fastapi import FastAPI, Request
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from mediacraft.gateway import routes_ops, routes_projects, routes_tasks, routes_user, routes_videos
from mediacraft.gateway.body_limits import body_rules
from mediacraft.gateway.console import mount_console
from mediacraft.gateway.context import GatewayContext, make_limiters
from mediacraft.gateway.cookies import CookiePolicy, CookieSigner
from mediacraft.gateway.docs_page import mount_docs
from mediacraft.gateway.events import EventHub
from mediacraft.gateway.identity_client import IdentityClient
from mediacraft.gateway.media_cache import MediaCache
from mediacraft.gateway.metrics import GatewayMetrics
from mediacraft.gateway.middleware import GatewayMiddleware
from mediacraft.gateway.preview import FrameExtractor
from mediacraft.gateway.project_events import follow_task
from mediacraft.gateway.settings import GatewaySettings
from mediacraft.gateway.uploads import UploadReceiver
from mediacraft.gateway.webui import mount_web_ui
from mediacraft.shared.clock import Clock, SystemClock
from mediacraft.shared.http.asgi import install_error_handlers
from mediacraft.shared.http.envelope import VERSION
from mediacraft.shared.logging import get_logger
from mediacraft.shared.ports.bus import Bus
from mediacraft.shared.ports.objects import ObjectStore
from mediacraft.shared.ports.stores import ProjectStore, TaskStore

log = get_logger(__name__)


def build_context(
    settings: GatewaySettings,
    *,
    store: TaskStore,
    objects: ObjectStore,
    bus: Bus,
    identity: IdentityClient,
    clock: Clock | None = None,
    projects: ProjectStore | None = None,
) -> GatewayContext:
    """Every component of the gateway over the given adapters (`projects`: the store's own by default)."""
    clock = clock or SystemClock()
    metrics = GatewayMetrics()
    max_age = timedelta(days=settings.cookie_max_age_days)
    cache = MediaCache(settings.cache_path, max_bytes=settings.preview_cache_bytes)
    return GatewayContext(
        settings=settings,
        store=store,
        projects=projects if projects is not None else cast(ProjectStore, store),
        objects=objects,
        bus=bus,
        identity=identity,
        clock=clock,
        metrics=metrics,
        signer=CookieSigner(settings.cookie_key_list, max_age=max_age),
        cookie=CookiePolicy(settings.cookie_name, secure=settings.cookie_secure, max_age=max_age),
        cache=cache,
        receiver=UploadReceiver(objects=objects, cache=cache, limits=settings.media, metrics=metrics),
        frames=FrameExtractor(concurrency=settings.preview_concurrency, timeout=settings.preview_timeout_seconds),
        hub=EventHub(
            bus, metrics=metrics, queue_size=settings.sse_client_queue, max_per_user=settings.sse_max_streams_per_user
        ),
        **make_limiters(settings, clock),
    )


def create_app(
    settings: GatewaySettings,
    *,
    store: TaskStore,
    objects: ObjectStore,
    bus: Bus,
    identity: IdentityClient,
    clock: Clock | None = None,
    projects: ProjectStore | None = None,
) -> FastAPI:
    """The gateway ASGI app over adapters its caller starts and closes (main.build's process)."""
    ctx = build_context(
        settings, store=store, objects=objects, bus=bus, identity=identity, clock=clock, projects=projects
    )
    ctx.hub.follower = partial(follow_task, ctx)  # project events from their script tasks' events

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        ctx.cache.start()
        await ctx.hub.start()
        try:
            yield
        finally:
            await ctx.hub.close()
            await ctx.drain_background()

    app = FastAPI(
        title="MediaCraft API",
        version=VERSION,
        description="Remove watermarks, merge videos, generate media: submit, leave, come back.",
        lifespan=lifespan,
        # the docs page is ours (docs_page: no CDN, strict CSP); the schema only when enabled
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json" if settings.openapi_enabled else None,
        **no_native_telemetry(),
    )
    app.state.ctx = ctx
    # routes match in order: the hot ones (list, status, create) come first in their routers
    app.include_router(routes_user.router)
    app.include_router(routes_tasks.router)
    app.include_router(routes_projects.router)
    app.include_router(routes_videos.router)
    app.include_router(routes_ops.router)
    mount_console(app)  # the operator console under /ops (404 unless an operator credential is configured)
    if settings.docs_on:
        mount_docs(app, openapi_url="/openapi.json")
    mount_web_ui(app)  # the web UI at /, after the API so its routes never shadow one
    _install_error_handlers(app)
    app.add_middleware(GatewayMiddleware, ctx=ctx, body_rules=body_rules(settings))
    return app


def no_native_telemetry() -> dict[str, Any]:
    """FastAPI's own OpenTelemetry hooks, switched off where this FastAPI has them.

    They look up the global tracer and meter providers on every request (a measurable share of a
    status request); the gateway exports Prometheus metrics of its own on its metrics port.
    """
    if "telemetry" in inspect.signature(FastAPI.__init__).parameters:
        return {"telemetry": {"tracing": False, "metrics": False, "logs": False}}
    return {}


def _install_error_handlers(app: FastAPI) -> None:
    install_error_handlers(app)

    @app.exception_handler(ClientDisconnect)
    async def _gone(request: Request, exc: ClientDisconnect) -> Response:
        # nobody is listening; the upload's clean-up already ran on the way out
        return Response(status_code=499)
