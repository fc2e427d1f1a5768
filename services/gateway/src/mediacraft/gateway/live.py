"""The caller's live stream of task changes (GET /api/events), resumed from a Last-Event-ID."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from functools import partial

from mediacraft.gateway.context import GatewayContext
from mediacraft.gateway.events import changed_since, event_stream
from mediacraft.gateway.project_events import replay_projects


def live_events(ctx: GatewayContext, user_id: str, since: datetime | None) -> AsyncIterator[bytes]:
    """The SSE body for the user; with `since`, what changed since then (and every unfinished task) comes first."""
    replay = replay_more = None
    if since is not None:
        replay = partial(changed_since, ctx.store, user_id, since, limit=ctx.settings.sse_replay_limit)
        replay_more = partial(replay_projects, ctx, user_id, since)
    return event_stream(
        ctx.hub,
        user_id,
        now=ctx.clock.now,
        replay=replay,
        heartbeat=ctx.settings.sse_heartbeat_seconds,
        retry_ms=ctx.settings.sse_retry_ms,
        metrics=ctx.metrics,
        replay_more=replay_more,
    )
