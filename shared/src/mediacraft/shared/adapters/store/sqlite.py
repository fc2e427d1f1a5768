"""SQLite task and user store (aiosqlite): the embedded adapter, durable on disk in WAL mode.

Each task is one row: the JSON document plus the columns that queries filter and sort on, with
datetimes as UTC epoch microseconds so that they sort as instants. Every operation is a single
statement on one connection, whose worker thread runs statements one at a time, so concurrent
coroutines cannot interleave inside an operation: a compare-and-set is one conditional UPDATE.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import aiosqlite

from mediacraft.shared.adapters.store.codec import (
    RUNNING_STATUSES,
    check_limit,
    check_subtasks,
    conflict_message,
    decode_cursor,
    dump_datetime,
    dump_field,
    encode_cursor,
    progress_changes,
    queue_order_us,
    status_values,
    to_us,
    transition_write,
    utc_decoded,
    utc_task,
    utc_user,
    validate_changes,
)
from mediacraft.shared.adapters.store.sqlite_projects import PROJECTS_SCHEMA, SqliteProjects
from mediacraft.shared.adapters.store.sqlite_videos import VIDEO_SCHEMA, SqliteVideos
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

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    task_id        TEXT PRIMARY KEY,
    user_id        TEXT NOT NULL,
    task_type      TEXT NOT NULL,
    status         TEXT NOT NULL,
    version        INTEGER NOT NULL,
    attempts       INTEGER NOT NULL,
    progress       REAL NOT NULL,
    hidden         INTEGER NOT NULL,
    notified       INTEGER NOT NULL,
    fingerprint    TEXT,
    created_at_us  INTEGER NOT NULL,
    queue_order_us INTEGER NOT NULL,
    doc            TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS tasks_user_created ON tasks (user_id, created_at_us, task_id);
CREATE INDEX IF NOT EXISTS tasks_user_status ON tasks (user_id, status, hidden);
CREATE INDEX IF NOT EXISTS tasks_user_fingerprint ON tasks (user_id, fingerprint, created_at_us);
CREATE INDEX IF NOT EXISTS tasks_status_queue ON tasks (status, queue_order_us, task_id);
CREATE INDEX IF NOT EXISTS tasks_created ON tasks (created_at_us, task_id);
CREATE INDEX IF NOT EXISTS tasks_control ON tasks (task_id) WHERE json_type(doc, '$.control') = 'object';
CREATE TABLE IF NOT EXISTS users (
    user_id          TEXT PRIMARY KEY,
    last_accessed_us INTEGER NOT NULL,
    doc              TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS users_last_accessed ON users (last_accessed_us, user_id);
CREATE TABLE IF NOT EXISTS task_history (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id TEXT NOT NULL,
    entry   TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS task_history_task ON task_history (task_id, seq);
CREATE TABLE IF NOT EXISTS records (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_us INTEGER NOT NULL
);
"""

# Per-user counts by status and hidden flag, kept by triggers in the transaction of every insert,
# status or hidden change and delete of a task, whichever statement makes it: a listing's counts
# then cost one indexed read however many tasks the user has (a GROUP BY grows with them).
_COUNTS_SCHEMA = """
CREATE TABLE IF NOT EXISTS task_counts (
    user_id TEXT NOT NULL,
    status  TEXT NOT NULL,
    hidden  INTEGER NOT NULL,
    n       INTEGER NOT NULL,
    PRIMARY KEY (user_id, status, hidden)
) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS task_counts_insert AFTER INSERT ON tasks BEGIN
    INSERT INTO task_counts (user_id, status, hidden, n) VALUES (NEW.user_id, NEW.status, NEW.hidden, 1)
        ON CONFLICT (user_id, status, hidden) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER IF NOT EXISTS task_counts_update AFTER UPDATE OF status, hidden, user_id ON tasks
WHEN OLD.status IS NOT NEW.status OR OLD.hidden IS NOT NEW.hidden OR OLD.user_id IS NOT NEW.user_id BEGIN
    UPDATE task_counts SET n = n - 1 WHERE user_id = OLD.user_id AND status = OLD.status AND hidden = OLD.hidden;
    INSERT INTO task_counts (user_id, status, hidden, n) VALUES (NEW.user_id, NEW.status, NEW.hidden, 1)
        ON CONFLICT (user_id, status, hidden) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER IF NOT EXISTS task_counts_delete AFTER DELETE ON tasks BEGIN
    UPDATE task_counts SET n = n - 1 WHERE user_id = OLD.user_id AND status = OLD.status AND hidden = OLD.hidden;
END;
"""
# PRAGMA user_version of a file whose task_counts were built from its rows (older files had none).
_COUNTS_VERSION = 1
_REBUILD_COUNTS = (
    "INSERT INTO task_counts (user_id, status, hidden, n)"
    " SELECT user_id, status, hidden, COUNT(*) FROM tasks GROUP BY user_id, status, hidden"
)

# Task fields that also live in a column, so a change must update both.
_COLUMN_FIELDS = ("status", "task_type", "attempts", "progress", "hidden", "notified", "fingerprint")
_INSERT = (
    "INSERT INTO tasks (task_id, user_id, task_type, status, version, attempts, progress, hidden,"
    " notified, fingerprint, created_at_us, queue_order_us, doc)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_MIN_INT64 = -(2**63)
# The condition of the partial index tasks_control, written the same way so that queries use it.
_CONTROLLED = "json_type(doc, '$.control') = 'object'"


class SqliteStore(SqliteProjects, SqliteVideos):
    """TaskStore, UserStore, LeaseStore, ProjectStore and VideoStore over one SQLite file."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        clock: Clock | None = None,
        synchronous: str = "FULL",
        busy_timeout_ms: int = 5000,
    ) -> None:
        self._path = str(path)
        self._clock = clock or SystemClock()
        # FULL syncs the WAL on every commit: a transition that returned survives a power cut.
        self._synchronous = synchronous
        self._busy_timeout_ms = busy_timeout_ms
        self._db: aiosqlite.Connection | None = None
        self._lifecycle = asyncio.Lock()

    @property
    def path(self) -> str:
        return self._path

    async def start(self) -> None:
        """Open the file (creating folders), switch to WAL and create tables and indexes."""
        async with self._lifecycle:
            if self._db is not None:
                return
            if self._path != ":memory:" and not self._path.startswith("file:"):
                Path(self._path).parent.mkdir(parents=True, exist_ok=True)
            db = await aiosqlite.connect(self._path, isolation_level=None)
            try:
                await db.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_ms)}")
                await db.execute("PRAGMA journal_mode = WAL")
                await db.execute(f"PRAGMA synchronous = {self._synchronous}")
                await db.executescript(_SCHEMA + PROJECTS_SCHEMA + VIDEO_SCHEMA)
                await _keep_counts(db)
            except BaseException:
                await db.close()
                raise
            self._db = db

    async def close(self) -> None:
        """Close the connection; `start` may open it again."""
        async with self._lifecycle:
            if self._db is not None:
                db, self._db = self._db, None
                await db.close()

    async def ping(self) -> bool:
        """True when the database answers a query."""
        if self._db is None:
            return False
        try:
            return await self._rows("SELECT 1") == [(1,)]
        except (sqlite3.Error, ValueError):
            return False

    # tasks

    async def insert(self, task: Task) -> Task:
        """Store a new task; Conflict if the id exists."""
        task = utc_task(task)
        created_at_us = to_us(task.created_at)
        try:
            await self._rows(
                _INSERT,
                (
                    task.task_id,
                    task.user_id,
                    task.task_type.value,
                    task.status.value,
                    task.version,
                    task.attempts,
                    task.progress,
                    int(task.hidden),
                    int(task.notified),
                    task.fingerprint,
                    created_at_us,
                    queue_order_us(task.submitted_at, created_at_us),
                    task.model_dump_json(),
                ),
            )
        except sqlite3.IntegrityError as exc:
            raise Conflict(f"task {task.task_id} already exists") from exc
        return task

    async def get(self, task_id: str) -> Task | None:
        """The task, or None."""
        return _first(await self._rows("SELECT doc FROM tasks WHERE task_id = ?", (task_id,)))

    async def get_for_user(self, task_id: str, user_id: str) -> Task | None:
        """The task only if `user_id` owns it."""
        rows = await self._rows("SELECT doc FROM tasks WHERE task_id = ? AND user_id = ?", (task_id, user_id))
        return _first(rows)

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
        sets = ["version = version + 1"]
        params: list[Any] = []
        for name in _COLUMN_FIELDS:
            if name in validated:
                sets.append(f"{name} = ?")
                params.append(_column_value(validated[name]))
        if "submitted_at" in validated:
            sets.append("queue_order_us = COALESCE(?, created_at_us)")
            submitted_at = validated["submitted_at"]
            params.append(None if submitted_at is None else to_us(submitted_at))
        doc_set, doc_params = _json_set(validated)
        sets.append(f"doc = json_set(doc, '$.version', version + 1, {doc_set})")
        params += doc_params
        sql = (
            f"UPDATE tasks SET {', '.join(sets)} WHERE task_id = ? AND version = ?"
            f" AND status IN ({_marks(statuses)}) RETURNING doc"
        )
        rows = await self._rows(sql, (*params, task_id, expected_version, *statuses))
        if rows:
            return _decode(rows[0][0])
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
        progress = fields["progress"]
        doc_set, doc_params = _json_set(fields)
        if subtasks:
            doc_set += ", '$.subtasks', json(?)"  # the whole ordered list
            doc_params.append(json.dumps(check_subtasks(subtasks)))
        running = [status.value for status in RUNNING_STATUSES]
        sql = (
            f"UPDATE tasks SET progress = ?, doc = json_set(doc, {doc_set})"
            f" WHERE task_id = ? AND status IN ({_marks(running)}) AND attempts = ? AND progress <= ?"
            " RETURNING doc"
        )
        rows = await self._rows(sql, (progress, *doc_params, task_id, *running, attempt, progress))
        return _first(rows)

    async def set_detection(self, task_id: str, detection: TaskDetection, *, answers: str | None = None) -> Task | None:
        """Write a draft's detection (see TaskStore.set_detection); None when it did not apply."""
        fields = validate_changes({"detection": detection, "updated_at": self._clock.now()})
        doc_set, doc_params = _json_set(fields)
        drafts = [status.value for status in DRAFT_STATUSES]
        sql = f"UPDATE tasks SET doc = json_set(doc, {doc_set}) WHERE task_id = ? AND status IN ({_marks(drafts)})"
        params: list[Any] = [*doc_params, task_id, *drafts]
        if answers is not None:
            sql += " AND json_extract(doc, '$.detection.request_id') = ?"
            params.append(answers)
        rows = await self._rows(sql + " RETURNING doc", tuple(params))
        return _first(rows)

    async def set_user_flags(
        self, task_id: str, user_id: str, *, hidden: bool | None = None, notified: bool | None = None
    ) -> Task | None:
        """Set hidden/notified on the owner's task; None when not found or not owned."""
        flags = {name: value for name, value in (("hidden", hidden), ("notified", notified)) if value is not None}
        if not flags:
            return await self.get_for_user(task_id, user_id)
        validated = validate_changes(flags)
        validated["updated_at"] = self._clock.now()
        sets = [f"{name} = ?" for name in flags]
        doc_set, doc_params = _json_set(validated)
        sql = (
            f"UPDATE tasks SET {', '.join(sets)}, doc = json_set(doc, {doc_set})"
            " WHERE task_id = ? AND user_id = ? RETURNING doc"
        )
        rows = await self._rows(sql, (*(int(v) for v in flags.values()), *doc_params, task_id, user_id))
        return _first(rows)

    async def request_control(self, task_id: str, user_id: str, control: RequestedControl) -> Task | None:
        """Record a cancel or retry on the owner's task while its status allows it; bumps version."""
        validated = validate_changes({"control": control, "updated_at": self._clock.now()})
        statuses = [status.value for status in CONTROL_STATUSES[validated["control"].kind]]
        doc_set, doc_params = _json_set(validated)
        sql = (
            f"UPDATE tasks SET version = version + 1, doc = json_set(doc, '$.version', version + 1, {doc_set})"
            f" WHERE task_id = ? AND user_id = ? AND status IN ({_marks(statuses)}) RETURNING doc"
        )
        rows = await self._rows(sql, (*doc_params, task_id, user_id, *statuses))
        if rows:
            return _decode(rows[0][0])
        current = await self.get_for_user(task_id, user_id)
        if current is None:
            return None
        raise Conflict(f"cannot request {control.kind.value} of task {task_id}: it is {current.status.value}")

    async def clear_control(self, task_id: str, *, expected_version: int) -> Task | None:
        """Forget the requested control while the version is `expected_version`; no version bump."""
        sql = (
            "UPDATE tasks SET doc = json_set(doc, '$.control', json('null'))"
            f" WHERE task_id = ? AND version = ? AND {_CONTROLLED} RETURNING doc"
        )
        return _first(await self._rows(sql, (task_id, expected_version)))

    async def list_controlled(self, *, limit: int = 1000, after: str | None = None) -> list[Task]:
        """Tasks with a requested control, by task_id after `after`."""
        limit = check_limit(limit)
        sql = f"SELECT doc FROM tasks WHERE {_CONTROLLED} AND task_id > ? ORDER BY task_id LIMIT ?"
        return [_decode(row[0]) for row in await self._rows(sql, (after or "", limit))]

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
        where, params = self._user_filter(user_id, include_hidden=include_hidden)
        if not _status_and_type(where, params, statuses, task_type):
            return Page(items=[])
        if notified is not None:
            where.append("notified = ?")
            params.append(int(notified))
        if cursor is not None:
            where.append("(created_at_us, task_id) < (?, ?)")
            params += decode_cursor(cursor)
        sql = f"SELECT doc FROM tasks WHERE {' AND '.join(where)} ORDER BY created_at_us DESC, task_id DESC LIMIT ?"
        rows = await self._rows(sql, (*params, limit + 1))
        items = [_decode(row[0]) for row in rows[:limit]]
        next_cursor = encode_cursor(to_us(items[-1].created_at), items[-1].task_id) if len(rows) > limit else None
        return Page(items=items, next_cursor=next_cursor)

    async def count_by_status(self, user_id: str, *, include_hidden: bool = False) -> dict[str, int]:
        """Number of the user's tasks per status (kept counts: one indexed read)."""
        where, params = self._user_filter(user_id, include_hidden=include_hidden)
        sql = f"SELECT status, SUM(n) FROM task_counts WHERE {' AND '.join(where)} AND n > 0 GROUP BY status"
        return {status: int(n) for status, n in await self._rows(sql, params) if n}

    async def find_by_fingerprint(self, user_id: str, fingerprint: str, since: datetime) -> Task | None:
        """The user's newest task with this fingerprint created at or after `since`."""
        sql = (
            "SELECT doc FROM tasks WHERE user_id = ? AND fingerprint = ? AND created_at_us >= ?"
            " ORDER BY created_at_us DESC, task_id DESC LIMIT 1"
        )
        return _first(await self._rows(sql, (user_id, fingerprint, to_us(since))))

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
        where = f"status IN ({_marks(values)})"
        params: list[Any] = list(values)
        if after is not None:
            # A missing `after` compares as the smallest key, which restarts from the beginning.
            where += (
                " AND (queue_order_us, task_id) >"
                " (COALESCE((SELECT queue_order_us FROM tasks WHERE task_id = ?), ?), ?)"
            )
            params += [after, _MIN_INT64, after]
        sql = f"SELECT doc FROM tasks WHERE {where} ORDER BY queue_order_us, task_id LIMIT ?"
        return [_decode(row[0]) for row in await self._rows(sql, (*params, limit))]

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
        where: list[str] = ["1 = 1"]
        params: list[Any] = []
        for column, value in (("task_id", task_id), ("user_id", user_id)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if not _status_and_type(where, params, statuses, task_type):
            return Page(items=[])
        if error_code is not None:
            where.append("json_extract(doc, '$.error.code') = ?")
            params.append(error_code)
        if cursor is not None:
            where.append("(created_at_us, task_id) < (?, ?)")
            params += decode_cursor(cursor)
        sql = f"SELECT doc FROM tasks WHERE {' AND '.join(where)} ORDER BY created_at_us DESC, task_id DESC LIMIT ?"
        rows = await self._rows(sql, (*params, limit + 1))
        items = [_decode(row[0]) for row in rows[:limit]]
        next_cursor = encode_cursor(to_us(items[-1].created_at), items[-1].task_id) if len(rows) > limit else None
        return Page(items=items, next_cursor=next_cursor)

    async def append_history(self, entries: Sequence[Mapping[str, Any]]) -> None:
        """Append history entries, in order."""
        if not entries:
            return
        # one multi-row statement per chunk: one commit (one sync of the WAL), not one per entry
        for start in range(0, len(entries), 400):
            chunk = entries[start : start + 400]
            values: list[Any] = []
            for entry in chunk:
                values += [str(entry["task_id"]), json.dumps(dict(entry))]
            marks = ", ".join("(?, ?)" for _ in chunk)
            await self._rows(f"INSERT INTO task_history (task_id, entry) VALUES {marks}", values)

    async def list_history(self, task_id: str, *, limit: int = 200) -> list[dict[str, Any]]:
        """The task's latest `limit` history entries, oldest first."""
        rows = await self._rows(
            "SELECT entry FROM task_history WHERE task_id = ? ORDER BY seq DESC LIMIT ?", (task_id, check_limit(limit))
        )
        return [json.loads(row[0]) for row in reversed(rows)]

    async def get_record(self, name: str) -> dict[str, Any] | None:
        """The named record, or None."""
        rows = await self._rows("SELECT value FROM records WHERE name = ?", (name,))
        if not rows:
            return None
        value: dict[str, Any] = json.loads(rows[0][0])
        return value

    async def put_record(self, name: str, value: Mapping[str, Any]) -> None:
        """Write or replace the named record."""
        await self._rows(
            "INSERT INTO records (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (name, json.dumps(dict(value))),
        )

    async def delete(self, task_id: str) -> bool:
        """Remove a task record; True when something was removed."""
        return bool(await self._rows("DELETE FROM tasks WHERE task_id = ? RETURNING 1", (task_id,)))

    # users

    async def create_user(self, user: User) -> User:
        """Store a new user; Conflict if the id exists."""
        user = utc_user(user)
        try:
            await self._rows(
                "INSERT INTO users (user_id, last_accessed_us, doc) VALUES (?, ?, ?)",
                (user.user_id, to_us(user.last_accessed), user.model_dump_json()),
            )
        except sqlite3.IntegrityError as exc:
            raise Conflict(f"user {user.user_id} already exists") from exc
        return user

    async def get_user(self, user_id: str) -> User | None:
        """The user, or None."""
        rows = await self._rows("SELECT doc FROM users WHERE user_id = ?", (user_id,))
        return utc_user(User.model_validate_json(rows[0][0])) if rows else None

    async def touch_user(self, user_id: str, at: datetime) -> bool:
        """Move last_accessed forward to `at`; True when the user exists."""
        at_us = to_us(at)
        moved = await self._rows(
            "UPDATE users SET last_accessed_us = ?, doc = json_set(doc, '$.last_accessed', ?)"
            " WHERE user_id = ? AND last_accessed_us < ? RETURNING 1",
            (at_us, dump_datetime(at), user_id, at_us),
        )
        return bool(moved) or bool(await self._rows("SELECT 1 FROM users WHERE user_id = ?", (user_id,)))

    async def set_user_metadata(self, user_id: str, key: str, value: Any) -> bool:
        """Set (or, with None, remove) one top-level metadata key; True when the user exists."""
        path = f'$.metadata."{validate_metadata_key(key)}"'
        params: tuple[str, ...]
        if value is None:
            sql, params = "UPDATE users SET doc = json_remove(doc, ?) WHERE user_id = ? RETURNING 1", (path, user_id)
        else:
            sql = "UPDATE users SET doc = json_set(doc, ?, json(?)) WHERE user_id = ? RETURNING 1"
            params = (path, json.dumps(value), user_id)
        return bool(await self._rows(sql, params))

    async def list_stale_users(
        self, seen_before: datetime, *, limit: int = 1000, after: str | None = None
    ) -> list[User]:
        """Users last seen before `seen_before`, by user_id, after the user `after`."""
        limit = check_limit(limit)
        sql = "SELECT doc FROM users WHERE last_accessed_us < ? AND user_id > ? ORDER BY user_id LIMIT ?"
        rows = await self._rows(sql, (to_us(seen_before), after or "", limit))
        return [utc_user(User.model_validate_json(row[0])) for row in rows]

    async def delete_stale_user(self, user_id: str, *, seen_before: datetime) -> int | None:
        """Remove the stale user with their expired tasks, or change nothing (None)."""
        expired = TaskStatus.EXPIRED.value
        # The user goes first, in one statement that checks every condition; a user whose record is
        # gone cannot be given a task (its cookie expired before it became stale), so the second
        # statement cannot race with a new task.
        gone = await self._rows(
            "DELETE FROM users WHERE user_id = ? AND last_accessed_us < ?"
            " AND NOT EXISTS (SELECT 1 FROM tasks WHERE user_id = ? AND status != ?) RETURNING 1",
            (user_id, to_us(seen_before), user_id, expired),
        )
        if not gone:
            return None
        removed = await self._rows(
            "DELETE FROM tasks WHERE user_id = ? AND status = ? RETURNING task_id", (user_id, expired)
        )
        await self._rows("DELETE FROM projects WHERE user_id = ?", (user_id,))  # their projects go with them
        ids = [row[0] for row in removed]
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            await self._rows(f"DELETE FROM task_history WHERE task_id IN ({_marks(chunk)})", chunk)
        return len(removed)

    # leases

    async def acquire_lease(self, name: str, holder: str, *, ttl_seconds: float) -> bool:
        """Take or renew the named lease until now + ttl; False while another holder's is live."""
        if ttl_seconds <= 0:
            raise ValueError("a lease needs a positive ttl")
        now_us = to_us(self._clock.now())
        # One statement: the row is inserted, or taken over only when it is ours or has expired.
        rows = await self._rows(
            "INSERT INTO leases (name, holder, expires_us) VALUES (?, ?, ?)"
            " ON CONFLICT(name) DO UPDATE SET holder = excluded.holder, expires_us = excluded.expires_us"
            " WHERE leases.holder = excluded.holder OR leases.expires_us <= ? RETURNING 1",
            (name, holder, now_us + round(ttl_seconds * 1_000_000), now_us),
        )
        return bool(rows)

    async def release_lease(self, name: str, holder: str) -> bool:
        """Give the lease up if `holder` has it."""
        rows = await self._rows("DELETE FROM leases WHERE name = ? AND holder = ? RETURNING 1", (name, holder))
        return bool(rows)

    # helpers

    async def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        if self._db is None:
            raise RuntimeError("SqliteStore is not started")
        return list(await self._db.execute_fetchall(sql, params))

    @staticmethod
    def _user_filter(user_id: str, *, include_hidden: bool) -> tuple[list[str], list[Any]]:
        where, params = ["user_id = ?"], [user_id]
        if not include_hidden:
            where.append("hidden = 0")
        return where, params


async def _keep_counts(db: aiosqlite.Connection) -> None:
    """Create the kept counts and their triggers; build the counts once for a file that had none."""
    async with db.execute("PRAGMA user_version") as cursor:
        row = await cursor.fetchone()
    if row is not None and row[0] >= _COUNTS_VERSION:
        await db.executescript(_COUNTS_SCHEMA)
        return
    # One transaction: no task write can fall between the rebuild and the triggers taking over.
    await db.execute("BEGIN IMMEDIATE")
    try:
        for statement in _split(_COUNTS_SCHEMA):
            await db.execute(statement)
        await db.execute("DELETE FROM task_counts")
        await db.execute(_REBUILD_COUNTS)
        await db.execute(f"PRAGMA user_version = {_COUNTS_VERSION}")
        await db.execute("COMMIT")
    except BaseException:
        await db.execute("ROLLBACK")
        raise


def _split(script: str) -> list[str]:
    """The statements of a script (triggers hold `;` inside BEGIN ... END)."""
    statements, current = [], ""
    for line in script.strip().splitlines():
        current += line + "\n"
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    return statements


def _status_and_type(
    where: list[str], params: list[Any], statuses: Collection[TaskStatus] | None, task_type: TaskType | None
) -> bool:
    """Add the status and type filters of a task listing; False when no status can match."""
    if statuses is not None:
        values = status_values(statuses)
        if not values:
            return False
        where.append(f"status IN ({_marks(values)})")
        params += values
    if task_type is not None:
        where.append("task_type = ?")
        params.append(TaskType(task_type).value)
    return True


def _marks(values: Sequence[Any]) -> str:
    return ", ".join("?" * len(values))


def _column_value(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    return getattr(value, "value", value)


def _json_set(fields: dict[str, Any]) -> tuple[str, list[Any]]:
    """Arguments of json_set for these validated fields; values go in as JSON, not as strings."""
    paths = ", ".join(f"'$.{name}', json(?)" for name in fields)
    return paths, [json.dumps(dump_field(name, value)) for name, value in fields.items()]


def _decode(doc: str) -> Task:
    return utc_decoded(Task.model_validate_json(doc))


def _first(rows: list[Any]) -> Task | None:
    return _decode(rows[0][0]) if rows else None
