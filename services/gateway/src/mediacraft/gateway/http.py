"""Small helpers every route uses: the context, the caller, the envelope, id checks."""

from __future__ import annotations

import re

from starlette.requests import Request

from mediacraft.gateway.context import GatewayContext
from mediacraft.gateway.envelope import ApiError
from mediacraft.shared.http.asgi import reply

__all__ = ["checked_task_id", "ctx_of", "reply", "user_of"]

_TASK_ID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def ctx_of(request: Request) -> GatewayContext:
    ctx: GatewayContext = request.app.state.ctx
    return ctx


def user_of(request: Request) -> str:
    """The caller's user id, set by the middleware from the signed cookie (never from the request)."""
    user_id: str = request.scope["state"]["user_id"]
    return user_id


def checked_task_id(task_id: str) -> str:
    """A task id in canonical form, or 422 for anything that is not a UUID."""
    if not _TASK_ID.match(task_id):
        raise ApiError("invalid_task_id", "Task ids are UUIDs")
    return task_id.lower()
