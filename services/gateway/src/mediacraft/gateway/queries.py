"""Read-only answers: task status, listings with filters and counts, unfinished tasks, user info."""

from __future__ import annotations

from typing import Any

from mediacraft.gateway.context import GatewayContext
from mediacraft.gateway.envelope import ApiError, sentence
from mediacraft.gateway.ownership import owned_task
from mediacraft.gateway.views import status_group, task_view
from mediacraft.shared.errors import InvalidInput
from mediacraft.shared.http.asgi import ANSWER_LANG
from mediacraft.shared.tasks import ACTIVE_STATUSES, DRAFT_STATUSES, TERMINAL_STATUSES, TaskStatus, TaskType

MAX_PAGE = 100


def parse_statuses(value: str | None) -> frozenset[TaskStatus] | None:
    """`status=queued,processing` or a group name (draft, active, terminal); 422 for anything else."""
    if not value:
        return None
    statuses: set[TaskStatus] = set()
    for name in value.split(","):
        name = name.strip()
        group = status_group(name)
        if group is not None:
            statuses |= group
            continue
        try:
            statuses.add(TaskStatus(name))
        except ValueError:
            raise ApiError("invalid_input", f"Unknown status {name[:40]!r}") from None
    return frozenset(statuses)


def parse_type(value: str | None) -> TaskType | None:
    if not value:
        return None
    try:
        return TaskType(value)
    except ValueError:
        raise ApiError("unknown_task_type", f"Unknown task type {value[:40]!r}") from None


async def status(ctx: GatewayContext, user_id: str, task_id: str) -> dict[str, Any]:
    """One task's public view."""
    return task_view(await owned_task(ctx, task_id, user_id))


async def list_tasks(
    ctx: GatewayContext,
    user_id: str,
    *,
    statuses: str | None = None,
    task_type: str | None = None,
    cursor: str | None = None,
    limit: int = 20,
    notified: bool | None = None,
    include_hidden: bool = False,
    unnotified: bool = False,
) -> dict[str, Any]:
    """A page of the user's tasks, newest first, with counts per status."""
    wanted = parse_statuses(statuses)
    if unnotified:
        # finished while the user was away and not yet announced
        wanted = (wanted or TERMINAL_STATUSES) & TERMINAL_STATUSES
        notified = False
    if not 1 <= limit <= MAX_PAGE:
        raise ApiError("invalid_input", f"limit must be between 1 and {MAX_PAGE}")
    try:
        page = await ctx.store.list_for_user(
            user_id,
            statuses=wanted,
            task_type=parse_type(task_type),
            include_hidden=include_hidden,
            notified=notified,
            cursor=cursor,
            limit=limit,
        )
    except InvalidInput as exc:
        raise ApiError("invalid_cursor", sentence(exc.message)) from None
    counts = await ctx.store.count_by_status(user_id, include_hidden=include_hidden)
    return {"tasks": [task_view(t) for t in page.items], "next_cursor": page.next_cursor, "counts": counts}


async def unfinished(ctx: GatewayContext, user_id: str, limit: int = MAX_PAGE) -> list[dict[str, Any]]:
    """Drafts and running or waiting tasks, so a returning page can offer to keep watching them."""
    page = await ctx.store.list_for_user(user_id, statuses=DRAFT_STATUSES | ACTIVE_STATUSES, limit=limit)
    return [task_view(t) for t in page.items]


async def user_info(ctx: GatewayContext, user_id: str) -> dict[str, Any]:
    """The user's record and statistics from identity, with the limits the API applies and the
    language this request is answered in (a first visit's page follows it)."""
    info = await ctx.identity.user_info(user_id)
    s = ctx.settings
    return {
        **info.model_dump(mode="json"),
        "lang": ANSWER_LANG.get(),
        "limits": {
            "max_upload_bytes": ctx.max_upload_bytes,
            "merge_max_inputs": s.merge_max_inputs,
            "max_waiting_tasks": s.max_waiting_per_user,
            "max_media_duration_seconds": ctx.receiver.limits.max_duration,
        },
    }
