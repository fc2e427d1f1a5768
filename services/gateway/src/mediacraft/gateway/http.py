"""Small helpers every route uses: the context, the caller, the envelope, id checks."""

from __future__ import annotations

import re
from typing import Any, Mapping

from starlette.requests import Request

from mediacraft.gateway.context import GatewayContext
from mediacraft.gateway.envelope import OK, ApiError, EnvelopeResponse

_TASK_ID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def ctx_of(request: Request) -> GatewayContext:
    return request.app.state.ctx


def user_of(request: Request) -> str:
    """The caller's user id, set by the middleware from the signed cookie (never from the request)."""
    return request.scope["state"]["user_id"]


def checked_task_id(task_id: str) -> str:
    """A task id in canonical form, or 422 for anything that is not a UUID."""
    if not _TASK_ID.match(task_id):
        raise ApiError("invalid_task_id", "Task ids are UUIDs")
    return task_id.lower()


def reply(
    request: Request,
    data: Any = None,
    *,
    code: str = OK,
    message: str = "OK",
    status: int | None = None,
    headers: Mapping[str, str] | None = None,
) -> EnvelopeResponse:
    """A success answer in the envelope."""
    return EnvelopeResponse(
        data,
        request_id=request.scope.get("state", {}).get("request_id", ""),
        version=ctx_of(request).settings.api_version,
        code=code,
        message=message,
        status_code=status,
        headers=headers,
    )
