"""MongoDB task and user store (motor): the production adapter.

Motor is past its end of life; it is imported in this module only, so moving to PyMongo's
`AsyncMongoClient` (same method names, awaited the same way) changes this file alone.

A task document keeps the brief's field names, with datetimes as BSON dates so an operator can
query them in the shell. BSON dates stop at the millisecond, so `_us` holds each datetime as exact
epoch microseconds: reads rebuild datetimes from it and every sort and range query uses it, which
makes this adapter order and round-trip exactly as the SQLite one does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import unquote, urlsplit

from motor.motor_asyncio import AsyncIOMotorClient
from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument
from pymongo.errors import DuplicateKeyError, PyMongoError

from mediacraft.shared.adapters.store.codec import (
    RUNNING_STATUSES,
    TASK_DATETIME_FIELDS,
    as_utc,
    check_limit,
    check_subtasks,
    conflict_message,
    decode_cursor,
    dump_field,
    encode_cursor,
    from_us,
    progress_changes,
    queue_order_us,
    status_values,
    to_us,
    transition_write,
    utc_task,
    utc_user,
    validate_changes,
)
from mediacraft.shared.adapters.store.mongo_projects import PROJECT_INDEXES, MongoProjects
from mediacraft.shared.adapters.store.mongo_videos import VIDEO_INDEXES, MongoVideos
from mediacraft.shared.clock import Clock, SystemClock
from mediacraft.shared.errors import Conflict, NotFound
from mediacraft.shared.ports.stores import validate_metadata_key
from mediacraft.shared.tasks import (
    CONTROL_STATUSES,
    DRAFT_STATUSES,
    Page,
    RequestedControl,
    SubTask,
    Task,
    TaskDetection,
    TaskStatus,
    TaskType,
    User,
)
from mediacraft.shared.transitions import Transition

DEFAULT_DATABASE = "mediacraft"
_CREATED = "_us.created_at"
_QUEUE_ORDER = "_us.queue_order"
_USER_DATETIME_FIELDS = ("created_at", "last_accessed")
_TASK_INDEXES = [
    IndexModel([("user_id", ASCENDING), (_CREATED, DESCENDING), ("task_id", DESCENDING)], name="user_created"),
    IndexModel([("user_id", ASCENDING), ("status", ASCENDING)], name="user_status"),
    IndexModel([("user_id", ASCENDING), ("fingerprint", ASCENDING), (_CREATED, DESCENDING)], name="user_fingerprint"),
    IndexModel([("status", ASCENDING), (_QUEUE_ORDER, ASCENDING), ("task_id", ASCENDING)], name="status_queue"),
    # only the few tasks with a requested control are in it (the scheduler's reconcile reads them)
    IndexModel([("task_id", ASCENDING)], name="control", partialFilterExpression={"control": {"$type": "object"}}),
    # the operator console's search across users, newest first
    IndexModel([(_CREATED, DESCENDING), ("task_id", DESCENDING)], name="created"),
    IndexModel([("error.code", ASCENDING), (_CREATED, DESCENDING)], name="error_code", sparse=True),
]
_CONTROLLED: dict[str, Any] = {"control": {"$type": "object"}}
# Users are keyed by `_id`, which MongoDB always indexes uniquely; this names the lookup field too.
_USER_INDEXES = [
    IndexModel([("user_id", ASCENDING)], name="user_id", unique=True),
    IndexModel([("_us.last_accessed", ASCENDING)], name="last_accessed"),
]


def database_name(url: str) -> str:
    """The database named by the URL path, or `mediacraft`."""
    return unquote(urlsplit(url).path.strip("/")) or DEFAULT_DATABASE


class MongoStore(MongoProjects, MongoVideos):
    """TaskStore, UserStore, LeaseStore, ProjectStore and VideoStore over one MongoDB database (`tasks`,
    `users`, `leases`, `projects`, `videos`)."""

    def __init__(
        self,
        url: str,
        *,
        client: Any | None = None,
        clock: Clock | None = None,
        server_selection_timeout_ms: int = 5000,
    ) -> None:
        self._url = url
        self._database_name = database_name(url)
        self._clock = clock or SystemClock()
        self._timeout_ms = server_selection_timeout_ms
        # An injected client (a test's mongomock client, a shared one) belongs to the caller.
        self._client = client
        self._owns_client = client is None
        self._tasks: Any = None
        self._users: Any = None
        self._leases: Any = None
        self._projects: Any = None
        self._records: Any = None
        self._history: Any = None
        self._lifecycle = asyncio.Lock()

    @property
    def database(self) -> str:
        return self._database_name

    async def start(self) -> None:
        """Connect (lazily, as the driver does) and create the indexes."""
        async with self._lifecycle:
            if self._tasks is not None:
                return
            if self._client is None:
                self._client = AsyncIOMotorClient(self._url, tz_aware=True, serverSelectionTimeoutMS=self._timeout_ms)
            db = self._client.get_database(self._database_name)
            tasks, users = db.get_collection("tasks"), db.get_collection("users")
            await tasks.create_indexes(_TASK_INDEXES)
            await users.create_indexes(_USER_INDEXES)
            self._tasks, self._users = tasks, users
            self._leases = db.get_collection("leases")
            projects = db.get_collection("projects")
            await projects.create_indexes(PROJECT_INDEXES)
            self._projects = projects
            videos = db.get_collection("videos")
            await videos.create_indexes(VIDEO_INDEXES)
            self._videos = videos
            self._records = db.get_collection("records")
            self._history = db.get_collection("task_history")
            await self._history.create_indexes([IndexModel([("task_id", ASCENDING), ("_id", ASCENDING)])])

    async def close(self) -> None:
        """Forget the collections; close the client if this store made it."""
        async with self._lifecycle:
            self._tasks = self._users = self._leases = self._projects = self._videos = None
            self._records = self._history = None
            if self._owns_client and self._client is not None:
                self._client.close()
                self._client = None

    async def ping(self) -> bool:
        """True when the server answers `ping`."""
        if self._tasks is None or self._client is None:
            return False
        try:
            reply = await self._client.get_database(self._database_name).command("ping")
        except PyMongoError:
            return False
        return bool(reply.get("ok"))

    # tasks

    async def insert(self, task: Task) -> Task:
        """Store a new task; Conflict if the id exists."""
        task = utc_task(task)
        try:
            await self._task_collection().insert_one(_task_document(task))
        except DuplicateKeyError as exc:
            raise Conflict(f"task {task.task_id} already exists") from exc
        return task

    async def get(self, task_id: str) -> Task | None:
        """The task, or None."""
        return _task_or_none(await self._task_collection().find_one({"_id": task_id}))

    async def get_for_user(self, task_id: str, user_id: str) -> Task | None:
        """The task only if `user_id` owns it."""
        return _task_or_none(await self._task_collection().find_one({"_id": task_id, "user_id": user_id}))

    async def transition(
        self,
        task_id: str,
        transition: Transition,
        *,
        expected_version: int,
        changes: Mapping[str, Any] | None = None,
    ) -> Task:
        """Compare-and-set of a named transition on (status, version): apply it, or raise."""
        statuses, validated = transition_write(transition, changes)
        validated["updated_at"] = self._clock.now()
        update = _update(validated)
        if "submitted_at" in validated:
            await self._set_queue_order(task_id, validated["submitted_at"], update)
        update["$inc"] = {"version": 1}
        doc = await self._task_collection().find_one_and_update(
            {"_id": task_id, "status": {"$in": statuses}, "version": expected_version},
            update,
            return_document=ReturnDocument.AFTER,
        )
        if doc is not None:
            return _task(doc)
        current = await self.get(task_id)
        if current is None:
            raise NotFound(f"task {task_id} not found")
        raise Conflict(conflict_message(task_id, transition, current, expected_version))

    async def update_progress(
        self,
        task_id: str,
        *,
        attempt: int,
        progress: float,
        stage: str | None = None,
        subtasks: list[SubTask] | None = None,
        eta_seconds: float | None = None,
        message: str | None = None,
        lease_expires_at: datetime | None = None,
    ) -> Task | None:
        """Move progress forward for the running attempt; None when it did not apply."""
        fields = progress_changes(
            progress,
            self._clock.now(),
            stage=stage,
            eta_seconds=eta_seconds,
            message=message,
            lease_expires_at=lease_expires_at,
        )
        update = _update(fields)
        if subtasks:
            update["$set"]["subtasks"] = check_subtasks(subtasks)  # the whole ordered list
        doc = await self._task_collection().find_one_and_update(
            {
                "_id": task_id,
                "status": {"$in": [status.value for status in RUNNING_STATUSES]},
                "attempts": attempt,
                "progress": {"$lte": fields["progress"]},
            },
            update,
            return_document=ReturnDocument.AFTER,
        )
        return _task_or_none(doc)

    async def set_detection(self, task_id: str, detection: TaskDetection, *, answers: str | None = None) -> Task | None:
        """Write a draft's detection (see TaskStore.set_detection); None when it did not apply."""
        fields = validate_changes({"detection": detection, "updated_at": self._clock.now()})
        query: dict[str, Any] = {"_id": task_id, "status": {"$in": [status.value for status in DRAFT_STATUSES]}}
        if answers is not None:
            query["detection.request_id"] = answers
        doc = await self._task_collection().find_one_and_update(
            query, _update(fields), return_document=ReturnDocument.AFTER
        )
        return _task_or_none(doc)

    async def set_user_flags(
        self, task_id: str, user_id: str, *, hidden: bool | None = None, notified: bool | None = None
    ) -> Task | None:
        """Set hidden/notified on the owner's task; None when not found or not owned."""
        flags = {name: value for name, value in (("hidden", hidden), ("notified", notified)) if value is not None}
        if not flags:
            return await self.get_for_user(task_id, user_id)
        validated = validate_changes(flags)
        validated["updated_at"] = self._clock.now()
        doc = await self._task_collection().find_one_and_update(
            {"_id": task_id, "user_id": user_id}, _update(validated), return_document=ReturnDocument.AFTER
        )
        return _task_or_none(doc)

    async def request_control(self, task_id: str, user_id: str, control: RequestedControl) -> Task | None:
        """Record a cancel or retry on the owner's task while its status allows it; bumps version."""
        validated = validate_changes({"control": control, "updated_at": self._clock.now()})
        statuses = [status.value for status in CONTROL_STATUSES[validated["control"].kind]]
        update = _update(validated)
        update["$inc"] = {"version": 1}
        doc = await self._task_collection().find_one_and_update(
            {"_id": task_id, "user_id": user_id, "status": {"$in": statuses}},
            update,
            return_document=ReturnDocument.AFTER,
        )
        if doc is not None:
            return _task(doc)
        current = await self.get_for_user(task_id, user_id)
        if current is None:
            return None
        raise Conflict(f"cannot request {control.kind.value} of task {task_id}: it is {current.status.value}")

    async def clear_control(self, task_id: str, *, expected_version: int) -> Task | None:
        """Forget the requested control while the version is `expected_version`; no version bump."""
        doc = await self._task_collection().find_one_and_update(
            {"_id": task_id, "version": expected_version, **_CONTROLLED},
            {"$set": {"control": None}},
            return_document=ReturnDocument.AFTER,
        )
        return _task_or_none(doc)

    async def list_controlled(self, *, limit: int = 1000, after: str | None = None) -> list[Task]:
        """Tasks with a requested control, by task_id after `after`."""
        limit = check_limit(limit)
        query: dict[str, Any] = {**_CONTROLLED, "task_id": {"$gt": after or ""}}
        found = self._task_collection().find(query).sort([("task_id", ASCENDING)])
        return [_task(doc) for doc in await found.limit(limit).to_list(length=limit)]

    async def list_for_user(
        self,
        user_id: str,
        *,
        statuses: Collection[TaskStatus] | None = None,
        task_type: TaskType | None = None,
        include_hidden: bool = False,
        notified: bool | None = None,
        cursor: str | None = None,
        limit: int = 20,
    ) -> Page:
        """Newest first by (created_at, task_id), keyset-paginated."""
        limit = check_limit(limit)
        query = _user_filter(user_id, include_hidden=include_hidden)
        if statuses is not None:
            query["status"] = {"$in": status_values(statuses)}
        if task_type is not None:
            query["task_type"] = TaskType(task_type).value
        if notified is not None:
            query["notified"] = bool(notified)
        if cursor is not None:
            created_at_us, task_id = decode_cursor(cursor)
            query["$or"] = [
                {_CREATED: {"$lt": created_at_us}},
                {_CREATED: created_at_us, "task_id": {"$lt": task_id}},
            ]
        found = self._task_collection().find(query).sort([(_CREATED, DESCENDING), ("task_id", DESCENDING)])
        docs = await found.limit(limit + 1).to_list(length=limit + 1)
        items = [_task(doc) for doc in docs[:limit]]
        next_cursor = encode_cursor(to_us(items[-1].created_at), items[-1].task_id) if len(docs) > limit else None
        return Page(items=items, next_cursor=next_cursor)

    async def count_by_status(self, user_id: str, *, include_hidden: bool = False) -> dict[str, int]:
        """Number of the user's tasks per status."""
        pipeline = [
            {"$match": _user_filter(user_id, include_hidden=include_hidden)},
            {"$group": {"_id": "$status", "n": {"$sum": 1}}},
        ]
        rows = await self._task_collection().aggregate(pipeline).to_list(length=None)
        return {row["_id"]: row["n"] for row in rows}

    async def find_by_fingerprint(self, user_id: str, fingerprint: str, since: datetime) -> Task | None:
        """The user's newest task with this fingerprint created at or after `since`."""
        found = self._task_collection().find(
            {"user_id": user_id, "fingerprint": fingerprint, _CREATED: {"$gte": to_us(since)}}
        )
        docs = await found.sort([(_CREATED, DESCENDING), ("task_id", DESCENDING)]).limit(1).to_list(length=1)
        return _task(docs[0]) if docs else None

    async def list_by_status(
        self, statuses: Collection[TaskStatus], *, limit: int = 1000, after: str | None = None
    ) -> list[Task]:
        """All users' tasks in `statuses`, oldest submitted first, after the task `after`.

        When `after` no longer exists (a caller deleting as it pages), listing restarts from the
        beginning, which is where the remaining tasks now are.
        """
        limit = check_limit(limit)
        values = status_values(statuses)
        if not values:
            return []
        query: dict[str, Any] = {"status": {"$in": values}}
        if after is not None:
            anchor = await self._task_collection().find_one({"_id": after}, {_QUEUE_ORDER: 1})
            if anchor is not None:
                order = anchor["_us"]["queue_order"]
                query["$or"] = [{_QUEUE_ORDER: {"$gt": order}}, {_QUEUE_ORDER: order, "task_id": {"$gt": after}}]
        found = self._task_collection().find(query).sort([(_QUEUE_ORDER, ASCENDING), ("task_id", ASCENDING)])
        return [_task(doc) for doc in await found.limit(limit).to_list(length=limit)]

    async def search_tasks(
        self,
        *,
        task_id: str | None = None,
        user_id: str | None = None,
        statuses: Collection[TaskStatus] | None = None,
        task_type: TaskType | None = None,
        error_code: str | None = None,
        cursor: str | None = None,
        limit: int = 20,
    ) -> Page:
        """All users' tasks matching every filter, newest first by (created_at, task_id), keyset-paginated."""
        limit = check_limit(limit)
        query: dict[str, Any] = {}
        if task_id is not None:
            query["task_id"] = task_id
        if user_id is not None:
            query["user_id"] = user_id
        if statuses is not None:
            query["status"] = {"$in": status_values(statuses)}
        if task_type is not None:
            query["task_type"] = TaskType(task_type).value
        if error_code is not None:
            query["error.code"] = error_code
        if cursor is not None:
            created_at_us, after_id = decode_cursor(cursor)
            query["$or"] = [
                {_CREATED: {"$lt": created_at_us}},
                {_CREATED: created_at_us, "task_id": {"$lt": after_id}},
            ]
        found = self._task_collection().find(query).sort([(_CREATED, DESCENDING), ("task_id", DESCENDING)])
        docs = await found.limit(limit + 1).to_list(length=limit + 1)
        items = [_task(doc) for doc in docs[:limit]]
        next_cursor = encode_cursor(to_us(items[-1].created_at), items[-1].task_id) if len(docs) > limit else None
        return Page(items=items, next_cursor=next_cursor)

    async def append_history(self, entries: Sequence[Mapping[str, Any]]) -> None:
        """Append history entries (one insert for all of them, in order)."""
        if not entries:
            return
        if self._history is None:
            raise RuntimeError("MongoStore is not started")
        await self._history.insert_many([{"task_id": str(e["task_id"]), "entry": dict(e)} for e in entries])

    async def list_history(self, task_id: str, *, limit: int = 200) -> list[dict[str, Any]]:
        """The task's latest `limit` history entries, oldest first (ObjectIds grow with each insert)."""
        if self._history is None:
            raise RuntimeError("MongoStore is not started")
        found = self._history.find({"task_id": task_id}).sort([("_id", DESCENDING)]).limit(check_limit(limit))
        docs = await found.to_list(length=None)
        return [doc["entry"] for doc in reversed(docs)]

    async def get_record(self, name: str) -> dict[str, Any] | None:
        """The named record, or None."""
        if self._records is None:
            raise RuntimeError("MongoStore is not started")
        doc = await self._records.find_one({"_id": name})
        if doc is None:
            return None
        value: dict[str, Any] = doc["value"]
        return value

    async def put_record(self, name: str, value: Mapping[str, Any]) -> None:
        """Write or replace the named record."""
        if self._records is None:
            raise RuntimeError("MongoStore is not started")
        await self._records.update_one({"_id": name}, {"$set": {"value": dict(value)}}, upsert=True)

    async def delete(self, task_id: str) -> bool:
        """Remove a task record; True when something was removed."""
        result = await self._task_collection().delete_one({"_id": task_id})
        return bool(result.deleted_count > 0)

    # users

    async def create_user(self, user: User) -> User:
        """Store a new user; Conflict if the id exists."""
        user = utc_user(user)
        doc = user.model_dump(mode="json")
        doc.update({"_id": user.user_id, "created_at": user.created_at, "last_accessed": user.last_accessed})
        doc["_us"] = {name: to_us(getattr(user, name)) for name in _USER_DATETIME_FIELDS}
        try:
            await self._user_collection().insert_one(doc)
        except DuplicateKeyError as exc:
            raise Conflict(f"user {user.user_id} already exists") from exc
        return user

    async def get_user(self, user_id: str) -> User | None:
        """The user, or None."""
        doc = await self._user_collection().find_one({"_id": user_id})
        return None if doc is None else _user(doc)

    async def touch_user(self, user_id: str, at: datetime) -> bool:
        """Move last_accessed forward to `at`; True when the user exists."""
        at = as_utc(at)
        at_us = to_us(at)
        result = await self._user_collection().update_one(
            {"_id": user_id, "_us.last_accessed": {"$lt": at_us}},
            {"$set": {"last_accessed": at, "_us.last_accessed": at_us}},
        )
        if result.matched_count:
            return True
        return bool(await self._user_collection().count_documents({"_id": user_id}, limit=1) > 0)

    async def set_user_metadata(self, user_id: str, key: str, value: Any) -> bool:
        """Set (or, with None, remove) one top-level metadata key; True when the user exists."""
        field = f"metadata.{validate_metadata_key(key)}"
        update = {"$unset": {field: ""}} if value is None else {"$set": {field: value}}
        result = await self._user_collection().update_one({"_id": user_id}, update)
        return bool(result.matched_count > 0)

    async def list_stale_users(
        self, seen_before: datetime, *, limit: int = 1000, after: str | None = None
    ) -> list[User]:
        """Users last seen before `seen_before`, by user_id, after the user `after`."""
        limit = check_limit(limit)
        query: dict[str, Any] = {"_us.last_accessed": {"$lt": to_us(seen_before)}}
        if after is not None:
            query["_id"] = {"$gt": after}
        found = self._user_collection().find(query).sort([("_id", ASCENDING)]).limit(limit)
        return [_user(doc) for doc in await found.to_list(length=limit)]

    async def delete_stale_user(self, user_id: str, *, seen_before: datetime) -> int | None:
        """Remove the stale user with their expired tasks, or change nothing (None)."""
        expired = TaskStatus.EXPIRED.value
        if await self._task_collection().count_documents({"user_id": user_id, "status": {"$ne": expired}}, limit=1):
            return None
        # A stale user's cookie has expired, so no task can be added between the count and here.
        gone = await self._user_collection().delete_one(
            {"_id": user_id, "_us.last_accessed": {"$lt": to_us(seen_before)}}
        )
        if not gone.deleted_count:
            return None
        ids = await self._task_collection().distinct("task_id", {"user_id": user_id, "status": expired})
        removed = await self._task_collection().delete_many({"user_id": user_id, "status": expired})
        await self._project_collection().delete_many({"user_id": user_id})  # their projects go with them
        if ids and self._history is not None:
            await self._history.delete_many({"task_id": {"$in": ids}})
        return int(removed.deleted_count)

    # leases

    async def acquire_lease(self, name: str, holder: str, *, ttl_seconds: float) -> bool:
        """Take or renew the named lease until now + ttl; False while another holder's is live."""
        if ttl_seconds <= 0:
            raise ValueError("a lease needs a positive ttl")
        if self._leases is None:
            raise RuntimeError("MongoStore is not started")
        now_us = to_us(self._clock.now())
        until_us = now_us + round(ttl_seconds * 1_000_000)
        try:
            # The filter matches only a lease that is ours or expired; when it matches nothing the
            # upsert inserts `_id: name`, which fails on the unique _id while another holds it.
            await self._leases.update_one(
                {"_id": name, "$or": [{"holder": holder}, {"expires_us": {"$lte": now_us}}]},
                {"$set": {"holder": holder, "expires_us": until_us, "expires_at": from_us(until_us)}},
                upsert=True,
            )
        except DuplicateKeyError:
            return False
        return True

    async def release_lease(self, name: str, holder: str) -> bool:
        """Give the lease up if `holder` has it."""
        if self._leases is None:
            raise RuntimeError("MongoStore is not started")
        result = await self._leases.delete_one({"_id": name, "holder": holder})
        return bool(result.deleted_count > 0)

    # helpers

    def _task_collection(self) -> Any:
        if self._tasks is None:
            raise RuntimeError("MongoStore is not started")
        return self._tasks

    def _project_collection(self) -> Any:
        if self._projects is None:
            raise RuntimeError("MongoStore is not started")
        return self._projects

    def _user_collection(self) -> Any:
        if self._users is None:
            raise RuntimeError("MongoStore is not started")
        return self._users

    async def _set_queue_order(self, task_id: str, submitted_at: datetime | None, update: dict[str, Any]) -> None:
        """Add the list_by_status key to `update`; a cleared submitted_at falls back to created_at."""
        if submitted_at is not None:
            update["$set"][_QUEUE_ORDER] = to_us(submitted_at)
            return
        # created_at never changes, so reading it outside the compare-and-set is safe.
        doc = await self._task_collection().find_one({"_id": task_id}, {_CREATED: 1})
        if doc is not None:
            update["$set"][_QUEUE_ORDER] = queue_order_us(None, doc["_us"]["created_at"])


def _task_document(task: Task) -> dict[str, Any]:
    doc = task.model_dump(mode="json")
    exact: dict[str, int] = {}
    for name in TASK_DATETIME_FIELDS:
        value = getattr(task, name)
        doc[name] = value
        if value is not None:
            exact[name] = to_us(value)
    exact["queue_order"] = queue_order_us(task.submitted_at, exact["created_at"])
    doc["_id"] = task.task_id
    doc["_us"] = exact
    return doc


def _update(fields: Mapping[str, Any]) -> dict[str, Any]:
    """`$set`/`$unset` for validated Task fields, datetimes both as BSON dates and exactly."""
    set_: dict[str, Any] = {}
    unset: dict[str, str] = {}
    for name, value in fields.items():
        if name in TASK_DATETIME_FIELDS:
            set_[name] = value
            if value is None:
                unset[f"_us.{name}"] = ""
            else:
                set_[f"_us.{name}"] = to_us(value)
        else:
            set_[name] = dump_field(name, value)
    update: dict[str, Any] = {"$set": set_}
    if unset:
        update["$unset"] = unset
    return update


def _task(doc: dict[str, Any]) -> Task:
    exact = doc["_us"]
    fields = {name: value for name, value in doc.items() if name not in ("_id", "_us")}
    for name in TASK_DATETIME_FIELDS:
        fields[name] = from_us(exact[name]) if name in exact else None
    return Task.model_validate(fields)


def _user(doc: dict[str, Any]) -> User:
    fields = {name: value for name, value in doc.items() if name not in ("_id", "_us")}
    fields.update({name: from_us(doc["_us"][name]) for name in _USER_DATETIME_FIELDS})
    return User.model_validate(fields)


def _task_or_none(doc: dict[str, Any] | None) -> Task | None:
    return None if doc is None else _task(doc)


def _user_filter(user_id: str, *, include_hidden: bool) -> dict[str, Any]:
    query: dict[str, Any] = {"user_id": user_id}
    if not include_hidden:
        query["hidden"] = False
    return query
