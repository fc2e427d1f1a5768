"""User routes: who am I, my tasks, and my live event stream."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from mediacraft.gateway import queries
from mediacraft.gateway.events import SseResponse, parse_last_event_id
from mediacraft.gateway.http import ctx_of, reply, user_of
from mediacraft.gateway.live import live_events

router = APIRouter(prefix="/api", tags=["user"])


@router.get("/user/info", summary="The caller's anonymous identity, task statistics and limits")
async def info(request: Request) -> Response:
    return reply(request, await queries.user_info(ctx_of(request), user_of(request)))


@router.get("/user/tasks", summary="The caller's tasks, newest first, with counts per status")
async def tasks(
    request: Request,
    status: str | None = Query(
        default=None, max_length=200, description="statuses or groups (draft, active, terminal), comma-separated"
    ),
    type: str | None = Query(default=None, max_length=40),
    cursor: str | None = Query(default=None, max_length=400),
    limit: int = Query(default=20),
    notified: bool | None = Query(default=None),
    include_hidden: bool = Query(default=False),
    filter: str | None = Query(
        default=None, pattern="^unnotified$", description="unnotified: finished tasks not yet announced"
    ),
) -> Response:
    data = await queries.list_tasks(
        ctx_of(request),
        user_of(request),
        statuses=status,
        task_type=type,
        cursor=cursor,
        limit=limit,
        notified=notified,
        include_hidden=include_hidden,
        unnotified=filter == "unnotified",
    )
    return reply(request, data)


@router.get(
    "/events",
    summary="Server-Sent Events of the caller's task changes (Last-Event-ID resumes)",
    response_class=Response,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def events(request: Request, last_event_id: str | None = Query(default=None, max_length=20)) -> Response:
    since = parse_last_event_id(request.headers.get("last-event-id") or last_event_id)
    return SseResponse(live_events(ctx_of(request), user_of(request), since))
