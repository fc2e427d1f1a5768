"""User routes: who am I, my tasks, and my live event stream."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from mediacraft.gateway import queries
from mediacraft.gateway.events import SseResponse, changed_since, event_stream, parse_last_event_id
from mediacraft.gateway.http import ctx_of, reply, user_of
from mediacraft.shared.tasks import Task

router = APIRouter(prefix="/api", tags=["user"])


@router.get("/user/info", summary="The caller's anonymous identity, task statistics and limits")
async def info(request: Request) -> Response:
    return reply(request, await queries.user_info(ctx_of(request), user_of(request)))


@router.get("/user/tasks", summary="The caller's tasks, newest first, with counts per status")
async def tasks(
    request: Request,
    status: str | None = Query(default=None, max_length=200, description="statuses or groups (draft, active, terminal), comma-separated"),
    type: str | None = Query(default=None, max_length=40),
    cursor: str | None = Query(default=None, max_length=400),
    limit: int = Query(default=20),
    notified: bool | None = Query(default=None),
    include_hidden: bool = Query(default=False),
    filter: str | None = Query(default=None, pattern="^unnotified$",
                               description="unnotified: finished tasks not yet announced"),
) -> Response:
    data = await queries.list_tasks(
        ctx_of(request), user_of(request), statuses=status, task_type=type, cursor=cursor, limit=limit,
        notified=notified, include_hidden=include_hidden, unnotified=filter == "unnotified",
    )
    return reply(request, data)


@router.get("/events", summary="Server-Sent Events of the caller's task changes (Last-Event-ID resumes)",
            response_class=Response, responses={200: {"content": {"text/event-stream": {}}}})
async def events(request: Request, last_event_id: str | None = Query(default=None, max_length=20)) -> Response:
    ctx, user_id = ctx_of(request), user_of(request)
    since = parse_last_event_id(request.headers.get("last-event-id") or last_event_id)

    async def replay(since: datetime = since) -> list[Task]:  # type: ignore[assignment]
        return await changed_since(ctx.store, user_id, since, limit=ctx.settings.sse_replay_limit)

    body = event_stream(
        ctx.hub, user_id, now=ctx.clock.now, replay=replay if since is not None else None,
        heartbeat=ctx.settings.sse_heartbeat_seconds, retry_ms=ctx.settings.sse_retry_ms, metrics=ctx.metrics,
    )
    return SseResponse(body)
