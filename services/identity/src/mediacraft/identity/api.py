"""The identity service's small internal HTTP API, for the gateway (bearer token)."""

from __future__ import annotations

import hmac
import inspect
import json
import re
import uuid
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from typing import Any, AsyncIterator

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from mediacraft.identity.handlers import subscribe
from mediacraft.identity.service import IdentityService
from mediacraft.shared.logging import get_logger
from mediacraft.shared.ports.bus import Bus, Subscription

log = get_logger(__name__)
_USER_ID = re.compile(r"^[0-9a-f]{32}$")
VERSION = "1"


def envelope(data: Any, *, status: int = 200, code: str = "ok", message: str = "OK") -> Response:
    """The same envelope the gateway answers with."""
    doc = {
        "success": status < 400,
        "code": code,
        "message": message,
        "data": data,
        "meta": {
            "timestamp": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"),
            "version": VERSION,
            "request_id": uuid.uuid4().hex,
        },
    }
    return Response(json.dumps(doc, default=str), status_code=status, media_type="application/json")


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
    extra = {"telemetry": telemetry} if "telemetry" in inspect.signature(FastAPI.__init__).parameters else {}
    app = FastAPI(title="MediaCraft identity", version=VERSION, lifespan=lifespan, **extra)

    async def authorised(request: Request) -> None:
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            raise HTTPException(401, "missing or wrong bearer token")

    @app.exception_handler(HTTPException)
    async def _http_error(_request: Request, exc: HTTPException) -> Response:
        codes = {401: "unauthorized", 404: "not_found", 422: "validation_error"}
        return envelope(None, status=exc.status_code, code=codes.get(exc.status_code, "error"), message=str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> Response:
        return envelope(None, status=422, code="validation_error", message="invalid request")

    @app.post("/internal/users", status_code=201, dependencies=[Depends(authorised)])
    async def mint() -> Response:
        user = await service.mint()
        return envelope(user.model_dump(mode="json"), status=201, code="created", message="User created")

    @app.get("/internal/users/{user_id}", dependencies=[Depends(authorised)])
    async def info(user_id: str) -> Response:
        if not _USER_ID.match(user_id):
            raise HTTPException(422, "malformed user id")
        return envelope(await service.info(user_id))

    @app.get("/healthz")
    async def healthz() -> Response:
        return envelope({"status": "alive"})

    @app.get("/readyz")
    async def readyz() -> Response:
        checks = {"store": await _safe(service.ping())}
        if bus is not None:
            checks["bus"] = await _safe(bus.ping())
        ready = all(checks.values())
        return envelope(
            {"ready": ready, "checks": checks},
            status=200 if ready else 503,
            code="ok" if ready else "unavailable",
            message="ready" if ready else "not ready",
        )

    @app.get("/metrics")
    async def metrics() -> Response:
        text = (
            "# TYPE mediacraft_identity_users_minted_total counter\n"
            f"mediacraft_identity_users_minted_total {service.minted}\n"
            "# TYPE mediacraft_identity_seen_writes_total counter\n"
            f"mediacraft_identity_seen_writes_total {service.seen_writes}\n"
        )
        return Response(text, media_type="text/plain; version=0.0.4")

    return app


async def _safe(check: Any) -> bool:
    try:
        return bool(await check)
    except Exception as exc:
        log.warning("readiness_check_failed", error=str(exc))
        return False
