"""Readiness: whether every adapter answers within a short time, and the live event feed runs."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from mediacraft.gateway.context import GatewayContext
from mediacraft.shared.logging import get_logger

log = get_logger(__name__)
CHECK_TIMEOUT = 2.0


async def readiness_checks(ctx: GatewayContext) -> dict[str, bool]:
    """Each dependency by name: store, objects, bus, identity, events."""
    names = ["store", "objects", "bus", "identity"]
    results = await asyncio.gather(
        _check(ctx.store.ping()), _check(ctx.objects.ping()), _check(ctx.bus.ping()), _check(ctx.identity.ping())
    )
    checks = dict(zip(names, results, strict=True))
    checks["events"] = ctx.hub.running
    return checks


async def _check(probe: Awaitable[bool]) -> bool:
    try:
        return bool(await asyncio.wait_for(probe, CHECK_TIMEOUT))
    except Exception as exc:
        log.warning("readiness_check_failed", error=str(exc))
        return False
