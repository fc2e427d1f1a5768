"""Operator routes: liveness, readiness (checks every adapter), Prometheus metrics."""

from __future__ import annotations

import asyncio
from typing import Awaitable

from fastapi import APIRouter, Request
from starlette.responses import Response

from mediacraft.gateway.envelope import ApiError
from mediacraft.gateway.http import ctx_of, reply
from mediacraft.shared.logging import get_logger

router = APIRouter(tags=["operations"])
log = get_logger(__name__)
CHECK_TIMEOUT = 2.0


@router.get("/healthz", summary="The process is alive")
async def healthz(request: Request) -> Response:
    return reply(request, {"status": "alive"})


@router.get("/readyz", summary="Every adapter answers")
async def readyz(request: Request) -> Response:
    ctx = ctx_of(request)
    names = ["store", "objects", "bus", "identity"]
    results = await asyncio.gather(
        _check(ctx.store.ping()), _check(ctx.objects.ping()), _check(ctx.bus.ping()), _check(ctx.identity.ping())
    )
    checks = dict(zip(names, results))
    checks["events"] = ctx.hub.running
    if not all(checks.values()):
        raise ApiError("unavailable", "Not ready", data={"ready": False, "checks": checks})
    return reply(request, {"ready": True, "checks": checks})


@router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    ctx = ctx_of(request)
    return Response(ctx.metrics.render(), media_type=ctx.metrics.content_type)


async def _check(probe: Awaitable[bool]) -> bool:
    try:
        return bool(await asyncio.wait_for(probe, CHECK_TIMEOUT))
    except Exception as exc:
        log.warning("readiness_check_failed", error=str(exc))
        return False
