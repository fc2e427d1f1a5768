"""The `projects` collection of the MongoDB store: brief field names, BSON dates, exact `_us` times."""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.errors import DuplicateKeyError

from mediacraft.shared.adapters.store.codec import check_limit, decode_cursor, encode_cursor, from_us, to_us
from mediacraft.shared.adapters.store.projects import ProjectMethods, utc_project
from mediacraft.shared.errors import Conflict
from mediacraft.shared.projects import Project, ProjectPage

_CREATED = "_us.created_at"
_DATETIME_FIELDS = ("created_at", "updated_at", "script_completed_at")
PROJECT_INDEXES = [
    IndexModel([("user_id", ASCENDING), (_CREATED, DESCENDING), ("project_id", DESCENDING)], name="user_created"),
]


class MongoProjects(ProjectMethods):
    """ProjectStore primitives over the `projects` collection (mixed into MongoStore)."""

    def _project_collection(self) -> Any:
        raise NotImplementedError

    async def _load_project(self, project_id: str) -> Project | None:
        doc = await self._project_collection().find_one({"_id": project_id})
        return None if doc is None else _project(doc)

    async def _insert_project_doc(self, project: Project) -> None:
        try:
            await self._project_collection().insert_one(_document(project))
        except DuplicateKeyError as exc:
            raise Conflict(f"project {project.project_id} already exists") from exc

    async def _swap_project(self, project: Project, expected_version: int) -> bool:
        result = await self._project_collection().replace_one(
            {"_id": project.project_id, "version": expected_version}, _document(project)
        )
        return bool(result.modified_count)

    async def _page_projects(self, user_id: str, *, unannounced: bool, cursor: str | None, limit: int) -> ProjectPage:
        limit = check_limit(limit)
        query: dict[str, Any] = {"user_id": user_id}
        if unannounced:
            query["script_task_id"] = {"$ne": None}
            query["notified"] = False
        if cursor is not None:
            created_us, project_id = decode_cursor(cursor)
            query["$or"] = [
                {_CREATED: {"$lt": created_us}},
                {_CREATED: created_us, "project_id": {"$lt": project_id}},
            ]
        found = self._project_collection().find(query).sort([(_CREATED, DESCENDING), ("project_id", DESCENDING)])
        docs = await found.limit(limit + 1).to_list(length=limit + 1)
        items = [_project(doc) for doc in docs[:limit]]
        last = items[-1] if items else None
        next_cursor = encode_cursor(to_us(last.created_at), last.project_id) if last and len(docs) > limit else None
        return ProjectPage(items=items, next_cursor=next_cursor)


def _document(project: Project) -> dict[str, Any]:
    doc = project.model_dump(mode="json")
    exact: dict[str, int] = {}
    for name in _DATETIME_FIELDS:
        value = getattr(project, name)
        doc[name] = value
        if value is not None:
            exact[name] = to_us(value)
    doc["_id"] = project.project_id
    doc["_us"] = exact
    return doc


def _project(doc: dict[str, Any]) -> Project:
    exact = doc["_us"]
    fields = {name: value for name, value in doc.items() if name not in ("_id", "_us")}
    for name in _DATETIME_FIELDS:
        fields[name] = from_us(exact[name]) if name in exact else None
    return utc_project(Project.model_validate(fields))
