"""The store contract against SQLite, plus what only a file on disk can show."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from mediacraft.shared import transitions
from mediacraft.shared.adapters.factory import make_store
from mediacraft.shared.adapters.store.sqlite import SqliteStore
from mediacraft.shared.clock import Clock, FakeClock
from mediacraft.shared.errors import Conflict
from mediacraft.shared.tasks import Task, TaskStatus

# the contract's asserts live outside a test module: have pytest explain their failures too
pytest.register_assert_rewrite("tests.contracts.store")

from tests.contracts.store import T0, StoreContract, make_task  # noqa: E402


class TestSqliteStore(StoreContract):
    @pytest.fixture
    def make_store(self, tmp_path: Path) -> Any:
        return lambda clock: SqliteStore(tmp_path / "var" / "tasks.db", clock=clock)


@pytest.fixture
async def store(tmp_path: Path) -> Any:
    store = SqliteStore(tmp_path / "tasks.db", clock=FakeClock(T0))
    await store.start()
    yield store
    await store.close()


def read_row(path: str | Path, task_id: str) -> Task | None:
    """The task as another process would read it from the file."""
    with sqlite3.connect(path) as db:
        row = db.execute("SELECT doc FROM tasks WHERE task_id = ?", (task_id,)).fetchone()
    return None if row is None else Task.model_validate_json(row[0])


async def test_the_file_is_in_wal_mode(store: SqliteStore) -> None:
    with sqlite3.connect(store.path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_a_returned_write_is_already_in_the_file(store: SqliteStore) -> None:
    task = await store.insert(make_task(status=TaskStatus.QUEUED))
    moved = await store.transition(task.task_id, transitions.DISPATCH, expected_version=0, changes={"attempts": 1})
    # read through a separate connection without closing the store: nothing waits in a buffer
    assert read_row(store.path, task.task_id) == moved


async def test_two_stores_on_one_file_share_the_compare_and_set(tmp_path: Path) -> None:
    clock: Clock = FakeClock(T0)
    stores = [SqliteStore(tmp_path / "shared.db", clock=clock) for _ in range(2)]
    for store in stores:
        await store.start()
    try:
        task = await stores[0].insert(make_task(status=TaskStatus.QUEUED))
        outcomes = await asyncio.gather(
            *(
                store.transition(task.task_id, transition, expected_version=0)
                for store, transition in ((stores[0], transitions.DISPATCH), (stores[1], transitions.CANCEL_WAITING))
                for _ in range(5)
            ),
            return_exceptions=True,
        )
        winners = [o for o in outcomes if isinstance(o, Task)]
        assert len(winners) == 1 and sum(isinstance(o, Conflict) for o in outcomes) == 9
        assert await stores[1].get(task.task_id) == await stores[0].get(task.task_id) == winners[0]
    finally:
        for store in stores:
            await store.close()


async def test_listing_a_user_walks_an_index_without_sorting(store: SqliteStore) -> None:
    plan = " ".join(
        row[3]
        for row in sqlite3.connect(store.path).execute(
            "EXPLAIN QUERY PLAN SELECT doc FROM tasks WHERE user_id = ? AND hidden = 0"
            " AND (created_at_us, task_id) < (?, ?) ORDER BY created_at_us DESC, task_id DESC LIMIT 21",
            ("alice", 0, ""),
        )
    )
    assert "USING INDEX tasks_user_created" in plan and "TEMP B-TREE" not in plan


async def test_the_factory_builds_it_from_a_url(tmp_path: Path) -> None:
    store = make_store(f"sqlite:///{tmp_path}/from-url.db")
    await store.start()
    try:
        task = await store.insert(make_task())
        assert await store.get(task.task_id) == task
    finally:
        await store.close()
    assert (tmp_path / "from-url.db").exists()


def grouped_counts(path: str | Path, user_id: str, *, include_hidden: bool) -> dict[str, int]:
    """The per-status counts recomputed from the rows, as another process would."""
    hidden = "" if include_hidden else " AND hidden = 0"
    with sqlite3.connect(path) as db:
        rows = db.execute(f"SELECT status, COUNT(*) FROM tasks WHERE user_id = ?{hidden} GROUP BY status", (user_id,))
        return dict(rows.fetchall())


async def test_kept_counts_follow_every_insert_transition_hide_and_delete(store: SqliteStore) -> None:
    queued = [await store.insert(make_task(status=TaskStatus.QUEUED)) for _ in range(4)]
    await store.insert(make_task("bob", status=TaskStatus.QUEUED))
    moved = await store.transition(queued[0].task_id, transitions.DISPATCH, expected_version=0, changes={"attempts": 1})
    await store.transition(moved.task_id, transitions.COMPLETE, expected_version=moved.version)
    await store.set_user_flags(queued[0].task_id, "alice", hidden=True)
    await store.set_user_flags(queued[1].task_id, "alice", hidden=True)
    await store.set_user_flags(queued[1].task_id, "alice", hidden=False)  # back: counted as before
    await store.delete(queued[2].task_id)
    with pytest.raises(Conflict):  # a lost compare-and-set changes no count
        await store.transition(queued[3].task_id, transitions.DISPATCH, expected_version=7)

    for include_hidden in (False, True):
        kept = await store.count_by_status("alice", include_hidden=include_hidden)
        assert kept == grouped_counts(store.path, "alice", include_hidden=include_hidden)
    assert await store.count_by_status("alice") == {"queued": 2}
    assert await store.count_by_status("alice", include_hidden=True) == {"queued": 2, "completed": 1}
    assert await store.count_by_status("bob") == {"queued": 1}


async def test_a_file_from_before_kept_counts_gets_them_built_from_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    store = SqliteStore(path, clock=FakeClock(T0))
    await store.start()
    for status in (TaskStatus.QUEUED, TaskStatus.QUEUED, TaskStatus.FAILED):
        await store.insert(make_task(status=status))
    await store.close()
    with sqlite3.connect(path) as db:  # as a file written before the counts existed
        for trigger in ("task_counts_insert", "task_counts_update", "task_counts_delete"):
            db.execute(f"DROP TRIGGER {trigger}")
        db.execute("DROP TABLE task_counts")
        db.execute("PRAGMA user_version = 0")
        db.execute(
            "INSERT INTO tasks SELECT 'x' || task_id, user_id, task_type, status, version, attempts, progress,"
            " hidden, notified, fingerprint, created_at_us, queue_order_us, doc FROM tasks"
        )

    reopened = SqliteStore(path, clock=FakeClock(T0))
    await reopened.start()
    try:
        assert await reopened.count_by_status("alice") == {"queued": 4, "failed": 2}
        await reopened.insert(make_task(status=TaskStatus.FAILED))
        assert await reopened.count_by_status("alice") == grouped_counts(path, "alice", include_hidden=False)
    finally:
        await reopened.close()
