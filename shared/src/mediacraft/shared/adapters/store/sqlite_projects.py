"""The project table of the SQLite store: a JSON document plus the columns its queries use."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from mediacraft.shared.adapters.store.codec import check_limit, decode_cursor, encode_cursor, to_us
from mediacraft.shared.adapters.store.projects import ProjectMethods, utc_project
from mediacraft.shared.errors import Conflict
from mediacraft.shared.projects import Project, ProjectPage

PROJECTS_SCHEMA = """
CREATE TABLE IF NOT EXISTS projects (
    project_id    TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL,
    created_at_us INTEGER NOT NULL,
    unannounced   INTEGER NOT NULL,
    version       INTEGER NOT NULL,
    doc           TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS projects_user_created ON projects (user_id, created_at_us, project_id);
"""


class SqliteProjects(ProjectMethods):
    """ProjectStore primitives over the `projects` table (mixed into SqliteStore)."""

    async def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        raise NotImplementedError

    async def _load_project(self, project_id: str) -> Project | None:
        rows = await self._rows("SELECT doc FROM projects WHERE project_id = ?", (project_id,))
        return _decode(rows[0][0]) if rows else None

    async def _insert_project_doc(self, project: Project) -> None:
        try:
            await self._rows(
                "INSERT INTO projects (project_id, user_id, created_at_us, unannounced, version, doc)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    project.project_id,
                    project.user_id,
                    to_us(project.created_at),
                    _unannounced(project),
                    project.version,
                    project.model_dump_json(),
                ),
            )
        except sqlite3.IntegrityError as exc:
            raise Conflict(f"project {project.project_id} already exists") from exc

    async def _swap_project(self, project: Project, expected_version: int) -> bool:
        rows = await self._rows(
            "UPDATE projects SET doc = ?, version = ?, unannounced = ?"
            " WHERE project_id = ? AND version = ? RETURNING 1",
            (project.model_dump_json(), project.version, _unannounced(project), project.project_id, expected_version),
        )
        return bool(rows)

    async def _page_projects(self, user_id: str, *, unannounced: bool, cursor: str | None, limit: int) -> ProjectPage:
        limit = check_limit(limit)
        where: list[str] = ["user_id = ?"]
        params: list[Any] = [user_id]
        if unannounced:
            where.append("unannounced = 1")
        if cursor is not None:
            where.append("(created_at_us, project_id) < (?, ?)")
            params += decode_cursor(cursor)
        sql = (
            f"SELECT doc FROM projects WHERE {' AND '.join(where)} ORDER BY created_at_us DESC, project_id DESC LIMIT ?"
        )
        rows = await self._rows(sql, (*params, limit + 1))
        items = [_decode(row[0]) for row in rows[:limit]]
        last = items[-1] if items else None
        next_cursor = encode_cursor(to_us(last.created_at), last.project_id) if last and len(rows) > limit else None
        return ProjectPage(items=items, next_cursor=next_cursor)


def _unannounced(project: Project) -> int:
    return int(project.script_task_id is not None and not project.notified)


def _decode(doc: str) -> Project:
    return utc_project(Project.model_validate_json(doc))
