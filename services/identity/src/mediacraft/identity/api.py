"""The identity service's small internal HTTP API, for the gateway (bearer token)."""

from __future__ import annotations

import hmac
import inspect
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request
from starlette.responses import Response

from mediacraft.identity.handlers import subscribe
from mediacraft.identity.service import IdentityService
from mediacraft.shared.http.asgi import RequestIdMiddleware, install_error_handlers, reply
from mediacraft.shared.http.body_limit import BodyLimitMiddleware, BodyRules
from mediacraft.shared.http.envelope import VERSION, ApiError
from mediacraft.shared.logging import get_logger
from mediacraft.shared.ports.bus import Bus, Subscription

log = get_logger(__name__)
_USER_ID = re.compile(r"^[0-9a-f]{32}$")
IDENTITY_BODY_BYTES = 16 * 1024


def create_app(
    service: IdentityService,
    *,
    token: str,
    bus: Bus | None = None,
    consume: bool = False,
    prefetch: int = 50,
    on_startup: Any = None,
    on_shutdown: Any = None,
) -> FastAPI:
    """The identity API over `service`; with `consume`, it also handles identity.inbox on `bus`."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if on_startup is not None:
            await on_startup()
        sub: Subscription | None = None
        if consume and bus is not None:
            sub = await subscribe(bus, service, prefetch=prefetch)
        try:
            yield
        finally:
            if sub is not None:
                await sub.cancel()
            if on_shutdown is not None:
                await on_shutdown()

    # FastAPI's own OpenTelemetry hooks cost a provider lookup per request; this API exports none
    telemetry = {"tracing": False, "metrics": False, "logs": False}
    extra: dict[str, Any] = (
        {"telemetry": telemetry} if "telemetry" in inspect.signature(FastAPI.__init__).parameters else {}
    )
    app = FastAPI(title="MediaCraft identity", version=VERSION, lifespan=lifespan, **extra)

    async def authorised(request: Request) -> None:
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            raise ApiError("unauthorized", "Missing or wrong bearer token")

    install_error_handlers(app)
    # no route reads a body: any body is small, and a declared large one is refused unread
    app.add_middleware(BodyLimitMiddleware, rules=BodyRules(max_bytes=IDENTITY_BODY_BYTES))
    app.add_middleware(RequestIdMiddleware)  # outermost: the refusals carry the request id too

    @app.post("/internal/users", status_code=201, dependencies=[Depends(authorised)])
    async def mint(request: Request) -> Response:
        user = await service.mint()
        return reply(request, user.model_dump(mode="json"), status=201)

    @app.get("/internal/users/{user_id}", dependencies=[Depends(authorised)])
    async def info(request: Request, user_id: str) -> Response:
        if not _USER_ID.match(user_id):
            raise ApiError("validation_error", "Malformed user id")
        return reply(request, await service.info(user_id))

    @app.get("/healthz")
    async def healthz(request: Request) -> Response:
        return reply(request, {"status": "alive"})

    @app.get("/readyz")
    async def readyz(request: Request) -> Response:
        checks = {"store": await _safe(service.ping())}
        if bus is not None:
            checks["bus"] = await _safe(bus.ping())
        if not all(checks.values()):
            raise ApiError("unavailable", "Not ready", data={"ready": False, "checks": checks})
        return reply(request, {"ready": True, "checks": checks})

    return app


async def _safe(check: Any) -> bool:
    try:
        return bool(await check)
    except Exception as exc:
        log.warning("readiness_check_failed", error=str(exc))
        return False
