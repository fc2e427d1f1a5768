"""Operator routes: liveness and readiness (checks every adapter). Prometheus metrics are served on
the metrics port (mediacraft.shared.metrics_server), not by this app."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from mediacraft.gateway.envelope import ApiError
from mediacraft.gateway.http import ctx_of, reply
from mediacraft.gateway.readiness import readiness_checks

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="The process is alive")
async def healthz(request: Request) -> Response:
    return reply(request, {"status": "alive"})


@router.get("/readyz", summary="Every adapter answers")
async def readyz(request: Request) -> Response:
    checks = await readiness_checks(ctx_of(request))
    if not all(checks.values()):
        raise ApiError("unavailable", "Not ready", data={"ready": False, "checks": checks})
    return reply(request, {"ready": True, "checks": checks})
