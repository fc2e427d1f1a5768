"""Video-creation projects: create, read, start script generation, announce.

A project's script generation is an ordinary `video_script` task (same quotas, retries, cancel,
events), created and submitted as /api/tasks does. The project keeps the id of its latest script
task, and its status follows that task (`mediacraft.shared.projects.project_status`). When the
task has completed, the first read keeps its script on the project (`settle`): a compare-and-set
that applies once, so concurrent reads agree and the script outlives the task's retention.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

from mediacraft.gateway.context import GatewayContext
from mediacraft.gateway.create import check_create_rate, create_task
from mediacraft.gateway.discard import discard_draft
from mediacraft.gateway.envelope import ApiError
from mediacraft.gateway.project_views import ProjectState, project_view
from mediacraft.gateway.submission import submit
from mediacraft.shared.errors import Conflict
from mediacraft.shared.logging import get_logger
from mediacraft.shared.messages import ProjectChanged
from mediacraft.shared.projects import Project
from mediacraft.shared.scripts import Script
from mediacraft.shared.tasks import ACTIVE_STATUSES, DRAFT_STATUSES, Task, TaskStatus, TaskType
from mediacraft.shared.topology import EVENTS

log = get_logger(__name__)

_PROJECT_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
MAX_UNFINISHED = 100
IN_PROGRESS = "A script is already being written for this project; wait for it, or cancel its task first"


@dataclass(frozen=True)
class Brief:
    """What a person asks for when creating a project (validated by the route's body model)."""

    title: str
    topic: str
    target_seconds: int
    language: str
    style: str


def checked_project_id(project_id: str) -> str:
    """A project id in canonical form, or 422 for anything that cannot be one."""
    project_id = project_id.lower()
    if not _PROJECT_ID.match(project_id):
        raise ApiError("invalid_project_id", "Project ids are UUIDs")
    return project_id


async def create_project(ctx: GatewayContext, user_id: str, brief: Brief) -> ProjectState:
    """POST /api/video-creation/projects: a new project (no script yet)."""
    now = ctx.clock.now()
    project = Project(
        project_id=str(uuid.uuid4()),
        user_id=user_id,
        title=brief.title,
        topic=brief.topic,
        target_seconds=brief.target_seconds,
        language=brief.language,
        style=brief.style,
        created_at=now,
        updated_at=now,
    )
    return await announce(ctx, ProjectState(await ctx.projects.insert_project(project), None))


async def list_projects(
    ctx: GatewayContext, user_id: str, *, cursor: str | None, limit: int
) -> tuple[list[ProjectState], str | None]:
    """A page of the caller's projects, newest first, each with its latest script task."""
    page = await ctx.projects.list_projects(user_id, cursor=cursor, limit=limit)
    return [await settle(ctx, project) for project in page.items], page.next_cursor


async def project_state(ctx: GatewayContext, user_id: str, project_id: str) -> ProjectState:
    """The caller's project with its latest script task, or 404 (another user's looks missing)."""
    return await settle(ctx, await owned_project(ctx, user_id, project_id))


async def owned_project(ctx: GatewayContext, user_id: str, project_id: str) -> Project:
    """The caller's project, or 404."""
    project = await ctx.projects.get_project(project_id, user_id)
    if project is None:
        raise ApiError("not_found", "Project not found")
    return project


async def settle(ctx: GatewayContext, project: Project) -> ProjectState:
    """The project with its latest script task, keeping that task's script once it has completed."""
    if project.script_task_id is None:
        return ProjectState(project, None)
    task = await ctx.store.get_for_user(project.script_task_id, project.user_id)
    # an expired task keeps its record (and result info) after its files went with retention
    ended_well = task is not None and (
        task.status is TaskStatus.COMPLETED or (task.status is TaskStatus.EXPIRED and task.result is not None)
    )
    if task is None or not ended_well or project.script_from_task == task.task_id:
        return ProjectState(project, task)
    script = _script_of(task)
    if script is None:
        return ProjectState(project, task)
    completed_at = task.completed_at or ctx.clock.now()
    kept = await ctx.projects.keep_script(project.project_id, task.task_id, script, completed_at)
    if kept is None:  # kept meanwhile by another read, or a newer run started: read it as it is now
        kept = await ctx.projects.get_project(project.project_id, project.user_id) or project
        return ProjectState(kept, task)
    return await announce(ctx, ProjectState(kept, task))


async def start_script(ctx: GatewayContext, user_id: str, project_id: str) -> ProjectState:
    """POST .../{projectId}/script: a new script task for the project, queued at once.

    409 while the latest script task is waiting, running or retrying; two starts at once have one
    winner (the project's compare-and-set on its latest task), and the loser's draft is removed.
    """
    state = await project_state(ctx, user_id, project_id)
    project, previous = state.project, state.task
    if previous is not None and (previous.status in ACTIVE_STATUSES or previous.status in DRAFT_STATUSES):
        raise ApiError("script_in_progress", IN_PROGRESS)
    check_create_rate(ctx, user_id)
    task, _ = await create_task(ctx, user_id, TaskType.VIDEO_SCRIPT, announce=False)
    try:
        started = await ctx.projects.set_script_task(
            project.project_id, user_id, task.task_id, expected=project.script_task_id
        )
    except Conflict:
        await discard_draft(ctx, task)
        raise ApiError("script_in_progress", IN_PROGRESS) from None
    if started is None:  # removed meanwhile
        await discard_draft(ctx, task)
        raise ApiError("not_found", "Project not found")
    try:
        queued, _ = await submit(ctx, user_id, task.task_id, _config(started, task.task_id))
    except BaseException:
        # nothing half-made: the project points to its previous task again, the draft goes
        try:
            await ctx.projects.set_script_task(
                project.project_id, user_id, project.script_task_id, expected=task.task_id
            )
        except Conflict:
            log.warning("script_start_not_undone", project_id=project.project_id, task_id=task.task_id)
        await discard_draft(ctx, task)
        raise
    ctx.metrics.tasks_created.labels(TaskType.VIDEO_SCRIPT.value).inc()
    return await announce(ctx, ProjectState(started, queued))


async def unfinished(ctx: GatewayContext, user_id: str) -> list[ProjectState]:
    """Projects whose script is being written, or whose last run ended and was not yet announced."""
    page = await ctx.projects.list_projects(user_id, unannounced=True, limit=MAX_UNFINISHED)
    states = [await settle(ctx, project) for project in page.items]
    return [state for state in states if state.task is not None]


async def mark_notified(ctx: GatewayContext, user_id: str, project_id: str) -> ProjectState:
    """POST .../{projectId}/notified: the latest run's end was announced (its task too)."""
    project = await ctx.projects.set_project_notified(project_id, user_id)
    if project is None:
        raise ApiError("not_found", "Project not found")
    if project.script_task_id is not None:
        await ctx.store.set_user_flags(project.script_task_id, user_id, notified=True)
    return await announce(ctx, await settle(ctx, project))


async def announce(ctx: GatewayContext, state: ProjectState) -> ProjectState:
    """Tell the person's live streams, on every replica, about a project write (never raises)."""
    project = state.project
    message = ProjectChanged(
        project_id=project.project_id, user_id=project.user_id, version=project.version, project=project_view(state)
    )
    await ctx.publish(EVENTS, ProjectChanged.TYPE, message, correlation_id=project.project_id, mandatory=False)
    return state


def _config(project: Project, run_id: str) -> dict[str, Any]:
    return {
        "project_id": project.project_id,
        "title": project.title,
        "topic": project.topic,
        "target_seconds": project.target_seconds,
        "language": project.language,
        "style": project.style,
        "run_id": run_id,
    }


def _script_of(task: Task) -> Script | None:
    raw = task.result.info.get("script") if task.result is not None else None
    if raw is None:
        return None
    try:
        return Script.model_validate(raw)
    except ValueError:
        log.warning("script_unreadable", task_id=task.task_id)
        return None
