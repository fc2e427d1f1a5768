"""The operator console's HTTP API under /ops/api (envelope answers), behind operator authentication.

Routes parse, authenticate, call one operation and answer; every answer is `Cache-Control:
no-store`. With the console off (no token and no operator header configured) everything under /ops
answers 404, as if it did not exist. Bodies are read only after authentication, so a caller
without the credential learns nothing from a malformed one.
"""

from __future__ import annotations

import json
import time
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from mediacraft.gateway.console import operations
from mediacraft.gateway.console.auth import (
    COOKIE_NAME,
    COOKIE_PATH,
    Operator,
    authenticate,
    check_same_site,
    refused,
    session_value,
    token_matches,
)
from mediacraft.gateway.console.views import detail, row
from mediacraft.gateway.controls import ControlAnswer
from mediacraft.gateway.envelope import ApiError
from mediacraft.gateway.http import checked_task_id, ctx_of, reply
from mediacraft.shared.tasks import TaskStatus, TaskType

router = APIRouter(prefix="/ops/api", include_in_schema=False)

NO_STORE = {"Cache-Control": "no-store"}
MAX_LIMIT = 100


def console_enabled(request: Request) -> None:
    """404 for everything under /ops while the console is off."""
    if not ctx_of(request).settings.console_on:
        raise ApiError("not_found", "Not found")


def operator(request: Request) -> Operator:
    """The operator making this request, or 401/403 (404 while the console is off)."""
    console_enabled(request)
    return authenticate(request, ctx_of(request).settings)


def answer(request: Request, data: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return reply(request, data, status=status, headers={**NO_STORE, **(headers or {})})


async def json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object; 422 for anything else."""
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        raise ApiError("invalid_input", "The body is not JSON") from None
    if not isinstance(body, dict):
        raise ApiError("invalid_input", "The body must be a JSON object")
    return body


# --- session ----------------------------------------------------------------------------------------


@router.post("/session")
async def sign_in(request: Request) -> Response:
    """Exchange the operator token for a session cookie (the login form)."""
    console_enabled(request)
    check_same_site(request)
    settings = ctx_of(request).settings
    given = (await json_body(request)).get("token")
    if settings.operator_token is None:
        raise ApiError("unauthorized", "Token sign-in is off: the console trusts the authenticating proxy")
    if not isinstance(given, str) or not token_matches(given, settings.operator_token):
        refused(request, "sign-in")
        raise ApiError("unauthorized", "The operator token is not valid")
    hours = settings.operator_session_hours
    value = session_value(settings.operator_token, now=time.time(), hours=hours)
    secure = "; Secure" if settings.cookie_secure else ""
    cookie = (
        f"{COOKIE_NAME}={value}; Path={COOKIE_PATH}; HttpOnly; SameSite=Strict; Max-Age={int(hours * 3600)}{secure}"
    )
    return answer(request, {"operator": "token", "via": "session"}, headers={"Set-Cookie": cookie})


@router.get("/session")
async def who(request: Request) -> Response:
    """Who the console takes the caller for (401 when nobody)."""
    found = operator(request)
    return answer(request, {"operator": found.name, "via": found.via})


@router.delete("/session")
async def sign_out(request: Request) -> Response:
    """Forget the session cookie."""
    console_enabled(request)
    check_same_site(request)
    cookie = f"{COOKIE_NAME}=; Path={COOKIE_PATH}; HttpOnly; SameSite=Strict; Max-Age=0"
    return answer(request, {"signed_out": True}, headers={"Set-Cookie": cookie})


# --- pools and tasks --------------------------------------------------------------------------------


@router.get("/pools")
async def pools(request: Request) -> Response:
    """Each pool: waiting (by reason), running, workers alive, from the active scheduler's figures."""
    operator(request)
    return answer(request, await operations.pools(ctx_of(request)))


def _statuses(value: str | None) -> list[TaskStatus] | None:
    if not value:
        return None
    try:
        return [TaskStatus(s.strip()) for s in value.split(",") if s.strip()]
    except ValueError:
        raise ApiError("invalid_input", f"Unknown status in {value!r}") from None


def _task_type(value: str | None) -> TaskType | None:
    if not value:
        return None
    try:
        return TaskType(value)
    except ValueError:
        raise ApiError("unknown_task_type", f"Unknown task type {value!r}") from None


def _limit(value: str | None) -> int:
    if value is None:
        return 25
    if not value.isdigit() or not 1 <= int(value) <= MAX_LIMIT:
        raise ApiError("invalid_input", f"limit is a whole number from 1 to {MAX_LIMIT}")
    return int(value)


def _text(request: Request, name: str) -> str | None:
    value = (request.query_params.get(name) or "").strip()
    if len(value) > 200:
        raise ApiError("invalid_input", f"{name} is too long")
    return value or None


@router.get("/tasks")
async def search(request: Request) -> Response:
    """Tasks of every user by id, user, status (comma list), type and error code, newest first."""
    operator(request)
    q = request.query_params
    page = await operations.search(
        ctx_of(request), task_id=_text(request, "task_id"), user_id=_text(request, "user_id"),
        statuses=_statuses(q.get("status")), task_type=_task_type(q.get("task_type")),
        error_code=_text(request, "error_code"), cursor=q.get("cursor") or None, limit=_limit(q.get("limit")),
    )  # fmt: skip
    return answer(request, {"items": [row(t) for t in page.items], "next_cursor": page.next_cursor})


@router.get("/tasks/{task_id}")
async def task(request: Request, task_id: str) -> Response:
    """One task with its full record and history."""
    operator(request)
    return answer(request, await operations.record(ctx_of(request), checked_task_id(task_id)))


def _control(request: Request, done: ControlAnswer) -> Response:
    ctx = ctx_of(request)
    data = {**detail(done.task, now=ctx.clock.now(), worker=None), "notice": done.notice}
    return answer(request, data, status=202)


@router.post("/tasks/{task_id}/cancel")
async def cancel(request: Request, task_id: str) -> Response:
    """Cancel a task (waiting, running or draft) through the user's own durable path."""
    who = operator(request)
    return _control(request, await operations.cancel(ctx_of(request), who, checked_task_id(task_id)))


@router.post("/tasks/{task_id}/retry")
async def retry(request: Request, task_id: str) -> Response:
    """Retry a failed or cancelled task through the user's own durable path."""
    who = operator(request)
    return _control(request, await operations.retry(ctx_of(request), who, checked_task_id(task_id)))


@router.post("/tasks/{task_id}/prioritise")
async def prioritise(request: Request, task_id: str) -> Response:
    """Move a waiting task to the front of the scheduler's line."""
    who = operator(request)
    ctx = ctx_of(request)
    found = await operations.prioritise(ctx, who, checked_task_id(task_id))
    return answer(request, {"task_id": found.task_id, "sent": True}, status=202)


# --- dead letters and quotas ------------------------------------------------------------------------


@router.get("/dead-letters")
async def dead_letters(request: Request) -> Response:
    """Every parked message with its reason, left where it is."""
    operator(request)
    items = await operations.dead_letters(ctx_of(request))
    return answer(request, {"items": items, "count": len(items)})


@router.post("/dead-letters/replay")
async def replay(request: Request) -> Response:
    """Send the named parked messages back to where they came from."""
    who = operator(request)
    ids = (await json_body(request)).get("message_ids")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) and i for i in ids) or len(ids) > 1000:
        raise ApiError("invalid_input", "message_ids: a list of 1 to 1000 parked message ids")
    report = await operations.replay_dead_letters(ctx_of(request), who, ids)
    replayed = [p.message_id for p in report.replayed]
    missing = sorted(set(ids) - set(replayed) - {p.message_id for p in report.unreplayable})
    data = {
        "replayed": replayed,
        "tasks_retried": report.jobs_restarted,
        "unreplayable": [p.message_id for p in report.unreplayable],
        "not_found": missing,
    }
    return answer(request, data, status=202)


@router.get("/quotas")
async def quotas(request: Request) -> Response:
    """The operator's quota overrides and the quotas the scheduler last reported in effect."""
    operator(request)
    return answer(request, await operations.quotas(ctx_of(request)))


@router.put("/quotas")
async def set_quotas(request: Request) -> Response:
    """Replace the quota overrides (null or a pool left out: the scheduler's setting; 0 pauses)."""
    who = operator(request)
    result = await operations.set_quotas(ctx_of(request), who, await json_body(request))
    return answer(request, result, status=202)


__all__ = ["router"]
