"""Project events on the live stream (GET /api/events, event `project`).

The gateway announces its own project writes on the bus (`ProjectChanged`, bound beside `task.#`),
so every replica's streams hear them. A project also changes when its script task does; each
replica derives that event itself from the task's status event (`follow_task`), only for users
with a stream open on it, so nothing is announced twice. On resume (Last-Event-ID) the person's
projects changed since then, and every one still unannounced, are replayed from the project store.
"""

from __future__ import annotations

from datetime import datetime

from mediacraft.gateway.context import GatewayContext
from mediacraft.gateway.events import RESUME_SLACK, LiveEvent, epoch_ms
from mediacraft.gateway.project_views import ProjectState, project_view
from mediacraft.gateway.projects import settle
from mediacraft.shared.messages import TaskStatusChanged
from mediacraft.shared.tasks import TaskType

REPLAY_LIMIT = 100


def project_event(state: ProjectState, event_id: int) -> LiveEvent:
    """A `project` event carrying the project's public view."""
    project = state.project
    return LiveEvent(event_id, "project", project.project_id, project.version, project_view(state))


async def follow_task(ctx: GatewayContext, message: TaskStatusChanged) -> LiveEvent | None:
    """The project event of a script task's status change; None for any other task."""
    task = message.task
    if task.get("task_type") != TaskType.VIDEO_SCRIPT.value:
        return None
    project_id = (task.get("config") or {}).get("project_id")
    if not isinstance(project_id, str):
        return None
    project = await ctx.projects.get_project(project_id, message.user_id)
    if project is None or project.script_task_id != message.task_id:
        return None  # an older run of the project: its status follows the latest one only
    return project_event(await settle(ctx, project), epoch_ms(ctx.clock.now()))


async def replay_projects(ctx: GatewayContext, user_id: str, since: datetime, event_id: int) -> list[LiveEvent]:
    """The user's projects changed since `since`, and every unannounced one, as `project` events."""
    cutoff = since - RESUME_SLACK
    page = await ctx.projects.list_projects(user_id, limit=REPLAY_LIMIT)
    events = []
    for project in reversed(page.items):  # oldest first, as the tasks are replayed
        changed = project.updated_at is not None and project.updated_at >= cutoff
        if changed or (project.script_task_id is not None and not project.notified):
            events.append(project_event(await settle(ctx, project), event_id))
    return events
