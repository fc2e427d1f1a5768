"""Contract tests for the project store port, run against every store adapter.

An adapter's test module subclasses `ProjectStoreContract` and provides `make_store`, as for
`StoreContract`: a callable taking a Clock and returning a store that is not started yet.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from mediacraft.shared.clock import FakeClock
from mediacraft.shared.errors import Conflict, InvalidInput
from mediacraft.shared.projects import Project
from mediacraft.shared.scripts import Scene, Script
from mediacraft.shared.tasks import User

T0 = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


def make_project(user_id: str = "alice", *, at: datetime = T0, **fields: Any) -> Project:
    """A new project of `user_id` created at `at`."""
    fields.setdefault("title", "Tea")
    fields.setdefault("topic", "How green tea is made")
    return Project(project_id=fields.pop("project_id", uuid.uuid4().hex), user_id=user_id, created_at=at, **fields)


def make_script(total: float = 30.0) -> Script:
    """A script of three scenes summing to `total` (a multiple of 0.3 s keeps them equal)."""
    each = round(total / 3, 1)
    durations = [each, each, round(total - 2 * each, 1)]
    scenes = [
        Scene(number=n, narration=f"Line {n}.", shot=f"Shot {n}", duration_seconds=d)
        for n, d in enumerate(durations, start=1)
    ]
    return Script(title="Tea", language="en", style="calm", total_seconds=total, scenes=scenes, provider="test")


class ProjectStoreContract:
    """Behaviour every ProjectStore adapter must have."""

    @pytest.fixture
    def clock(self) -> FakeClock:
        return FakeClock(T0)

    @pytest.fixture
    async def store(self, make_store: Any, clock: FakeClock) -> Any:
        store = make_store(clock)
        await store.start()
        yield store
        await store.close()

    async def test_a_project_reads_back_as_written(self, store: Any) -> None:
        project = make_project(target_seconds=90, language="zh", style="calm", script=make_script())
        assert await store.insert_project(project) == project
        assert await store.get_project(project.project_id, "alice") == project

    async def test_datetimes_come_back_in_utc_with_microseconds(self, store: Any) -> None:
        plus8 = timezone(timedelta(hours=8))
        project = await store.insert_project(make_project(at=T0.astimezone(plus8)))
        got = await store.get_project(project.project_id, "alice")
        assert got.created_at == T0 and got.created_at.tzinfo is UTC

    async def test_inserting_an_existing_id_conflicts(self, store: Any) -> None:
        project = await store.insert_project(make_project())
        with pytest.raises(Conflict):
            await store.insert_project(make_project(project_id=project.project_id))

    async def test_only_the_owner_gets_a_project(self, store: Any) -> None:
        project = await store.insert_project(make_project())
        assert await store.get_project(project.project_id, "bob") is None
        assert await store.get_project("missing", "alice") is None

    async def test_listing_is_the_owners_newest_first_and_pages(self, store: Any) -> None:
        made = [await store.insert_project(make_project(at=T0 + timedelta(microseconds=i))) for i in range(5)]
        await store.insert_project(make_project("bob"))
        first = await store.list_projects("alice", limit=3)
        assert [p.project_id for p in first.items] == [p.project_id for p in reversed(made)][:3]
        assert first.next_cursor is not None
        second = await store.list_projects("alice", cursor=first.next_cursor, limit=3)
        assert [p.project_id for p in second.items] == [made[1].project_id, made[0].project_id]
        assert second.next_cursor is None

    async def test_a_forged_cursor_is_invalid_input(self, store: Any) -> None:
        with pytest.raises(InvalidInput):
            await store.list_projects("alice", cursor="not-a-cursor")

    async def test_setting_the_script_task_bumps_the_version_and_clears_notified(
        self, store: Any, clock: FakeClock
    ) -> None:
        project = await store.insert_project(make_project(notified=True))
        await clock.advance(5)
        started = await store.set_script_task(project.project_id, "alice", "task-1", expected=None)
        assert started.script_task_id == "task-1" and not started.notified
        assert started.version == 1 and started.updated_at == T0 + timedelta(seconds=5)
        assert await store.get_project(project.project_id, "alice") == started

    async def test_a_script_task_set_meanwhile_conflicts(self, store: Any) -> None:
        project = await store.insert_project(make_project())
        await store.set_script_task(project.project_id, "alice", "task-1", expected=None)
        with pytest.raises(Conflict):
            await store.set_script_task(project.project_id, "alice", "task-2", expected=None)
        assert (await store.get_project(project.project_id, "alice")).script_task_id == "task-1"

    async def test_two_starts_at_once_have_exactly_one_winner(self, store: Any) -> None:
        project = await store.insert_project(make_project())
        outcomes = await asyncio.gather(
            *(store.set_script_task(project.project_id, "alice", f"task-{n}", expected=None) for n in range(6)),
            return_exceptions=True,
        )
        winners = [o for o in outcomes if isinstance(o, Project)]
        assert len(winners) == 1 and sum(isinstance(o, Conflict) for o in outcomes) == 5

    async def test_another_users_project_is_not_started_or_marked(self, store: Any) -> None:
        project = await store.insert_project(make_project())
        assert await store.set_script_task(project.project_id, "bob", "task-1", expected=None) is None
        assert await store.set_project_notified(project.project_id, "bob") is None
        assert await store.set_script_task("missing", "alice", "task-1", expected=None) is None
        assert await store.get_project(project.project_id, "alice") == project

    async def test_the_latest_tasks_script_is_kept_once(self, store: Any) -> None:
        project = await store.insert_project(make_project())
        await store.set_script_task(project.project_id, "alice", "task-1", expected=None)
        script = make_script()
        kept = await store.keep_script(project.project_id, "task-1", script, T0)
        assert kept.script == script and kept.script_from_task == "task-1" and kept.script_completed_at == T0
        assert await store.keep_script(project.project_id, "task-1", make_script(60.0), T0) is None
        assert (await store.get_project(project.project_id, "alice")).script == script

    async def test_an_older_tasks_script_is_not_kept(self, store: Any) -> None:
        project = await store.insert_project(make_project())
        await store.set_script_task(project.project_id, "alice", "task-1", expected=None)
        await store.set_script_task(project.project_id, "alice", "task-2", expected="task-1")
        assert await store.keep_script(project.project_id, "task-1", make_script(), T0) is None
        assert (await store.get_project(project.project_id, "alice")).script is None

    async def test_unannounced_lists_projects_with_a_task_not_yet_notified(self, store: Any) -> None:
        idle = await store.insert_project(make_project(at=T0))
        running = await store.insert_project(make_project(at=T0 + timedelta(seconds=1)))
        announced = await store.insert_project(make_project(at=T0 + timedelta(seconds=2)))
        for project in (running, announced):
            await store.set_script_task(project.project_id, "alice", f"t-{project.project_id}", expected=None)
        marked = await store.set_project_notified(announced.project_id, "alice")
        assert marked.notified
        page = await store.list_projects("alice", unannounced=True)
        assert [p.project_id for p in page.items] == [running.project_id]
        assert idle.project_id in {p.project_id for p in (await store.list_projects("alice")).items}
        # a new run is not announced yet
        await store.set_script_task(announced.project_id, "alice", "t-again", expected=f"t-{announced.project_id}")
        page = await store.list_projects("alice", unannounced=True)
        assert {p.project_id for p in page.items} == {running.project_id, announced.project_id}

    async def test_projects_survive_reopening(self, make_store: Any, clock: FakeClock) -> None:
        first = make_store(clock)
        await first.start()
        project = await first.insert_project(make_project())
        await first.set_script_task(project.project_id, "alice", "task-1", expected=None)
        await first.close()
        second = make_store(clock)
        await second.start()
        try:
            assert (await second.get_project(project.project_id, "alice")).script_task_id == "task-1"
        finally:
            await second.close()

    async def test_a_stale_users_projects_go_with_the_user(self, store: Any) -> None:
        await store.create_user(User(user_id="alice", created_at=T0, last_accessed=T0))
        project = await store.insert_project(make_project())
        kept = await store.insert_project(make_project("bob"))
        assert await store.delete_stale_user("alice", seen_before=T0 + timedelta(days=1)) == 0
        assert await store.get_project(project.project_id, "alice") is None
        assert await store.get_project(kept.project_id, "bob") == kept
