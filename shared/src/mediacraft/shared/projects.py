"""Video-creation projects: a person's piece of work (a brief and, later, its script).

A project keeps its brief, the id of its latest script task, and the script it keeps: the script
of the last task that completed. Its status is not stored: it follows the latest script task
(`project_status`), so there is one writer of lifecycle state, the scheduler, as for every task.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from mediacraft.shared.scripts import Script
from mediacraft.shared.tasks import ACTIVE_STATUSES, DRAFT_STATUSES, TaskStatus


class ProjectStatus(StrEnum):
    DRAFT = "draft"
    GENERATING_SCRIPT = "generating_script"
    FAILED = "failed"


class Project(BaseModel):
    """One project document."""

    model_config = ConfigDict(extra="ignore")

    project_id: str
    user_id: str
    title: str
    topic: str
    target_seconds: int = 60
    language: str = "en"
    style: str = "informative"
    created_at: datetime
    updated_at: datetime | None = None

    script_task_id: str | None = None  # the latest script task, whatever its status
    script: Script | None = None  # the script kept: that of `script_from_task`
    script_from_task: str | None = None
    script_completed_at: datetime | None = None
    notified: bool = False  # the latest script task's end was announced to the person
    version: int = 0

    def to_doc(self) -> dict[str, Any]:
        """JSON-safe dict for storage and wire."""
        return self.model_dump(mode="json")


class ProjectPage(BaseModel):
    """One page of a user's projects, newest first; `next_cursor` is None on the last page."""

    items: list[Project] = Field(default_factory=list)
    next_cursor: str | None = None


def project_status(task_status: TaskStatus | None) -> ProjectStatus:
    """The project's status from its latest script task's (None: it never had one).

    Waiting, running or retrying is generating; failed is failed; completed, cancelled or expired
    is a draft again (with the new script, the previous one, or none).
    """
    if task_status is None:
        return ProjectStatus.DRAFT
    if task_status in ACTIVE_STATUSES or task_status in DRAFT_STATUSES:
        return ProjectStatus.GENERATING_SCRIPT
    if task_status is TaskStatus.FAILED:
        return ProjectStatus.FAILED
    return ProjectStatus.DRAFT
