"""The project store's rules, shared by both adapters over three primitives each supplies.

Project writes are rare (a person's create, start, announce; one script kept per run), so each is
a read, a pure change, and a compare-and-set on `version`, repeated while another write wins in
between. The adapters only load, insert and swap a document, and page through a user's projects.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from mediacraft.shared.adapters.store.codec import as_utc
from mediacraft.shared.clock import Clock
from mediacraft.shared.errors import Conflict
from mediacraft.shared.projects import Project, ProjectPage
from mediacraft.shared.scripts import Script

_ATTEMPTS = 20
_DATETIME_FIELDS = ("created_at", "updated_at", "script_completed_at")

# A change: the new project, or None when nothing is to be written (the answer is then the current one
# or None, as the change says by raising Skip).
Change = Callable[[Project], Project | None]


class Skip(Exception):
    """Nothing applies: the write answers None."""


def utc_project(project: Project) -> Project:
    """`project` with every datetime in UTC."""
    update = {name: as_utc(value) for name in _DATETIME_FIELDS if (value := getattr(project, name)) is not None}
    return project.model_copy(update=update) if update else project


class ProjectMethods:
    """ProjectStore over `_load_project`, `_insert_project_doc`, `_swap_project` and `_page_projects`."""

    _clock: Clock

    async def _load_project(self, project_id: str) -> Project | None:
        raise NotImplementedError

    async def _insert_project_doc(self, project: Project) -> None:
        raise NotImplementedError

    async def _swap_project(self, project: Project, expected_version: int) -> bool:
        raise NotImplementedError

    async def _page_projects(self, user_id: str, *, unannounced: bool, cursor: str | None, limit: int) -> ProjectPage:
        raise NotImplementedError

    async def insert_project(self, project: Project) -> Project:
        """Store a new project; Conflict if the id exists."""
        project = utc_project(project)
        await self._insert_project_doc(project)
        return project

    async def get_project(self, project_id: str, user_id: str) -> Project | None:
        """The project only if `user_id` owns it."""
        project = await self._load_project(project_id)
        return project if project is not None and project.user_id == user_id else None

    async def list_projects(
        self, user_id: str, *, unannounced: bool = False, cursor: str | None = None, limit: int = 20
    ) -> ProjectPage:
        """The user's projects, newest first, keyset-paginated."""
        return await self._page_projects(user_id, unannounced=unannounced, cursor=cursor, limit=limit)

    async def set_script_task(
        self, project_id: str, user_id: str, task_id: str | None, *, expected: str | None
    ) -> Project | None:
        """Make `task_id` the latest script task while the latest is `expected`."""

        def change(project: Project) -> Project:
            if project.user_id != user_id:
                raise Skip()
            if project.script_task_id != expected:
                raise Conflict(f"project {project_id} started another script meanwhile")
            return project.model_copy(update={"script_task_id": task_id, "notified": False})

        return await self._write(project_id, change)

    async def keep_script(
        self, project_id: str, task_id: str, script: Script, completed_at: datetime
    ) -> Project | None:
        """Keep the completed task's script while it is the latest script task and not kept yet."""

        def change(project: Project) -> Project:
            if project.script_task_id != task_id or project.script_from_task == task_id:
                raise Skip()
            update = {"script": script, "script_from_task": task_id, "script_completed_at": as_utc(completed_at)}
            return project.model_copy(update=update)

        return await self._write(project_id, change)

    async def set_project_notified(self, project_id: str, user_id: str, *, notified: bool = True) -> Project | None:
        """Mark the latest script task's end announced (or not)."""

        def change(project: Project) -> Project:
            if project.user_id != user_id:
                raise Skip()
            return project.model_copy(update={"notified": notified})

        return await self._write(project_id, change)

    async def _write(self, project_id: str, change: Change) -> Project | None:
        for _ in range(_ATTEMPTS):
            current = await self._load_project(project_id)
            if current is None:
                return None
            try:
                changed = change(current)
            except Skip:
                return None
            if changed is None:
                return current
            changed = changed.model_copy(update={"version": current.version + 1, "updated_at": self._clock.now()})
            if await self._swap_project(changed, current.version):
                return utc_project(changed)
        raise Conflict(f"project {project_id} kept changing; try again")
