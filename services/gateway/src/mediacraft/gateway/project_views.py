"""The public JSON of a video-creation project, in the creation tool's camelCase names."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mediacraft.gateway.views import localize_view, task_view
from mediacraft.shared.error_texts import Lang, text
from mediacraft.shared.projects import Project, ProjectStatus, project_status
from mediacraft.shared.scripts import Script
from mediacraft.shared.tasks import Task, TaskStatus


@dataclass(frozen=True)
class ProjectState:
    """A project with its latest script task (None when it never had one)."""

    project: Project
    task: Task | None


# The script processor's progress sentence (worker_generate/scripts/base.py writing_scene).
_WRITING_SCENE = re.compile(r"^writing scene (\d+) of (\d+)$")

# The progress sentence (a code of the one text table) when the task has none of its own.
_DEFAULT_MESSAGE = {
    TaskStatus.QUEUED: "script_waiting",
    TaskStatus.PROCESSING: "script_preparing",
    TaskStatus.RETRYING: "script_retry_waiting",
    TaskStatus.CANCELLING: "script_cancelling",
    TaskStatus.COMPLETED: "script_ready",
    TaskStatus.FAILED: "script_failed",
    TaskStatus.CANCELLED: "script_cancelled",
    TaskStatus.EXPIRED: "script_ready",
}
# The script processor's own sentences (worker_generate/scripts), by the code that translates them.
_PROCESSOR_SENTENCES = {"preparing": "script_preparing", "waiting for the language model": "script_waiting_for_model",
                        "script ready": "script_ready"}  # fmt: skip


def project_view(state: ProjectState, lang: Lang = "en") -> dict[str, Any]:
    """The project as GET .../{projectId} answers it: the brief, its status and its script."""
    project, task = state.project, state.task
    status = project_status(task.status if task is not None else None)
    view: dict[str, Any] = {
        "id": project.project_id,
        "title": project.title,
        "topic": project.topic,
        "targetSeconds": project.target_seconds,
        "language": project.language,
        "style": project.style,
        "createdAt": _time(project.created_at),
        "updatedAt": _time(project.updated_at),
    }
    view.update(status_view(state, lang))
    view["status"] = status.value
    return view


def status_view(state: ProjectState, lang: Lang = "en") -> dict[str, Any]:
    """The fields the creation tool polls (GET .../{projectId}/status); sentences in `lang`."""
    project, task = state.project, state.task
    status = project_status(task.status if task is not None else None)
    view: dict[str, Any] = {
        "id": project.project_id,
        "status": status.value,
        "progress": 0.0,
        "progressMessage": None,
        "completedAt": _time(project.script_completed_at),
        "notified": project.notified,
        "scriptData": script_view(project.script),
        "scriptTaskId": project.script_task_id,
        "taskStatus": None,
        "retryCount": 0,
        "maxRetries": None,
        "nextRetryAt": None,
        "queuePosition": None,
        "sceneProgress": None,
        "error": None,
    }
    if task is None:
        return view
    writing = _WRITING_SCENE.match(task.message or "") if status is ProjectStatus.GENERATING_SCRIPT else None
    if writing is not None:
        view["sceneProgress"] = {"current": int(writing.group(1)), "total": int(writing.group(2))}
    view.update(
        progress=100.0 if task.status is TaskStatus.COMPLETED else round(task.progress, 1),
        progressMessage=_message(task, lang),
        taskStatus=task.status.value,
        retryCount=task.retry_count,
        maxRetries=task.max_retries,
        nextRetryAt=_time(task.next_retry_at) if task.status is TaskStatus.RETRYING else None,
        queuePosition=task.queue_position if task.status is TaskStatus.QUEUED else None,
    )
    if status is ProjectStatus.FAILED or task.status is TaskStatus.RETRYING:
        error = task.error
        view["error"] = {"code": error.code, "message": error.message} if error is not None else None
    return view


def script_view(script: Script | None) -> dict[str, Any] | None:
    """A script in camelCase: scenes with narration, shot and duration."""
    if script is None:
        return None
    return {
        "title": script.title,
        "language": script.language,
        "style": script.style,
        "totalSeconds": script.total_seconds,
        "provider": script.provider,
        "model": script.model,
        "madeWithoutModel": script.made_without_model,
        "note": script.note,
        "scenes": [
            {
                "number": scene.number,
                "narration": scene.narration,
                "shot": scene.shot,
                "durationSeconds": scene.duration_seconds,
            }
            for scene in script.scenes
        ],
    }


def _message(task: Task, lang: Lang) -> str:
    """The plain sentence for where the script task stands, in `lang`."""
    status = task.status
    if status is TaskStatus.FAILED:
        if task.error_message:
            return str(localize_view(task_view(task), lang).get("error_message") or task.error_message)
        return text(_DEFAULT_MESSAGE[status], lang)
    if status in (TaskStatus.COMPLETED, TaskStatus.EXPIRED, TaskStatus.CANCELLED) or not task.message:
        return text(_DEFAULT_MESSAGE[status], lang)
    if writing := _WRITING_SCENE.match(task.message):
        return text("script_writing_scene", lang, current=writing.group(1), total=writing.group(2))
    if code := _PROCESSOR_SENTENCES.get(task.message):
        return text(code, lang)
    return str(localize_view(task_view(task), lang).get("message") or task.message)  # the scheduler's words


def _time(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None
