"""Contract tests for the task and user store ports, run against every store adapter.

An adapter's test module subclasses `StoreContract` and provides one fixture, `make_store`: a
callable taking a Clock and returning a store that is not started yet. Calling it twice must
give two stores over the same data (that is how reopening is tested).
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from mediacraft.shared import transitions
from mediacraft.shared.clock import FakeClock
from mediacraft.shared.errors import Conflict, InvalidInput, InvalidTransition, NotFound
from mediacraft.shared.tasks import (
    CONTROL_STATUSES,
    ControlKind,
    DetectedBox,
    InputFile,
    MediaInfo,
    RequestedControl,
    ResultFile,
    SubTask,
    SubTaskStatus,
    Task,
    TaskDetection,
    TaskError,
    TaskStatus,
    TaskType,
    User,
)
from mediacraft.shared.transitions import Component, Transition

# Microseconds in the start time: the stores must keep them (BSON dates alone would not).
T0 = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
DATETIME_FIELDS = [name for name, f in Task.model_fields.items() if "datetime" in str(f.annotation)]


def make_task(user_id: str = "alice", *, at: datetime = T0, **fields: Any) -> Task:
    """A draft task of `user_id` created at `at`."""
    fields.setdefault("task_type", TaskType.WATERMARK_REMOVAL)
    return Task(task_id=fields.pop("task_id", uuid.uuid4().hex), user_id=user_id, created_at=at, **fields)


def running_task(user_id: str = "alice", *, attempt: int = 1, **fields: Any) -> Task:
    """A task whose attempt `attempt` is running (processing unless `status` says otherwise)."""
    fields.setdefault("status", TaskStatus.PROCESSING)
    return make_task(user_id, attempts=attempt, **fields)


def ids(tasks: list[Task]) -> list[str]:
    return [task.task_id for task in tasks]


class StoreContract:
    """Behaviour every TaskStore + UserStore adapter must have."""

    @pytest.fixture
    def clock(self) -> FakeClock:
        return FakeClock(T0)

    @pytest.fixture
    async def store(self, make_store: Any, clock: FakeClock) -> Any:
        store = make_store(clock)
        await store.start()
        yield store
        await store.close()

    async def insert_many(self, store: Any, count: int, user_id: str = "alice", **fields: Any) -> list[Task]:
        """`count` tasks one microsecond apart, oldest first."""
        tasks = []
        for i in range(count):
            tasks.append(await store.insert(make_task(user_id, at=T0 + timedelta(microseconds=i), **fields)))
        return tasks

    # insert and read

    async def test_a_task_reads_back_exactly_as_written(self, store: Any) -> None:
        task = make_task(
            status=TaskStatus.COMPLETED,
            version=4,
            progress=100.0,
            stage="encode",
            subtasks={"decode": 100.0, "encode": 100.0},
            attempts=2,
            retry_count=1,
            submitted_at=T0 + timedelta(microseconds=10),
            started_at=T0 + timedelta(seconds=1, microseconds=1),
            completed_at=T0 + timedelta(seconds=9, microseconds=999),
            original_filename="clip.mp4",
            file_size=1234,
            inputs=[InputFile(key="u/in.mp4", original_name="clip.mp4", size=1234, media=MediaInfo(width=640))],
            config={"selected_frame": 3, "regions": [[1, 2, 30, 40]]},
            metadata={"source": "test", "nested": {"n": 1}},
            result=ResultFile(key="u/out.mp4", size=999, content_type="video/mp4", info={"method": "inpaint"}),
            error=TaskError(code="worker_lost", message="lost", retryable=True),
            fingerprint="abc",
        )
        assert await store.insert(task) == task
        got = await store.get(task.task_id)
        assert got == task
        for name in DATETIME_FIELDS:
            value = getattr(got, name)
            assert value is None or value.utcoffset() == timedelta(0), name

    async def test_datetimes_come_back_in_utc(self, store: Any) -> None:
        paris = timezone(timedelta(hours=1))
        task = await store.insert(make_task(at=T0.astimezone(paris), submitted_at=datetime(2026, 3, 1, 12, 0, 1)))
        got = await store.get(task.task_id)
        assert got.created_at == T0 and got.created_at.utcoffset() == timedelta(0)
        # a naive datetime is taken to be UTC already
        assert got.submitted_at == datetime(2026, 3, 1, 12, 0, 1, tzinfo=UTC)

    async def test_inserting_an_existing_id_conflicts(self, store: Any) -> None:
        task = await store.insert(make_task())
        with pytest.raises(Conflict):
            await store.insert(make_task("bob", task_id=task.task_id))
        assert (await store.get(task.task_id)).user_id == "alice"

    async def test_a_missing_task_is_none(self, store: Any) -> None:
        assert await store.get("nope") is None

    async def test_only_the_owner_gets_a_task(self, store: Any) -> None:
        task = await store.insert(make_task("alice"))
        assert await store.get_for_user(task.task_id, "alice") == task
        assert await store.get_for_user(task.task_id, "bob") is None
        assert await store.get_for_user("nope", "alice") is None

    # compare-and-set of named transitions (mediacraft.shared.transitions)

    async def test_a_transition_applies_changes_and_bumps_the_version(self, store: Any, clock: FakeClock) -> None:
        task = await store.insert(make_task(status=TaskStatus.UPLOADED))
        await clock.advance(5)
        submitted = clock.now()
        moved = await store.transition(
            task.task_id,
            transitions.SUBMIT,
            expected_version=0,
            changes={"submitted_at": submitted, "message": "Waiting in the queue"},
        )
        assert (moved.status, moved.version, moved.message) == (TaskStatus.QUEUED, 1, "Waiting in the queue")
        assert moved.submitted_at == submitted and moved.updated_at == clock.now()
        assert await store.get(task.task_id) == moved

    @pytest.mark.parametrize(
        ("transition", "source"),
        [(t, source) for t in transitions.TRANSITIONS.values() for source in t.sources],
        ids=lambda value: getattr(value, "name", None) or str(value),
    )
    async def test_every_transition_of_the_table_leaves_each_of_its_statuses(
        self, store: Any, transition: Transition, source: TaskStatus
    ) -> None:
        task = await store.insert(make_task(status=source))
        moved = await store.transition(task.task_id, transition, expected_version=0)
        assert (moved.status, moved.version) == (transition.target, 1)
        assert await store.get(task.task_id) == moved

    async def test_a_same_status_transition_bumps_the_version(self, store: Any) -> None:
        task = await store.insert(make_task(status=TaskStatus.QUEUED))
        moved = await store.transition(
            task.task_id,
            transitions.REPOSITION,
            expected_version=0,
            changes={"queue_position": 2, "message": "Waiting for your current task to finish"},
        )
        assert (moved.status, moved.version, moved.queue_position) == (TaskStatus.QUEUED, 1, 2)
        assert await store.get(task.task_id) == moved

    async def test_a_transition_accepts_its_own_target_status_and_model_values(self, store: Any) -> None:
        task = await store.insert(running_task())
        done = await store.transition(
            task.task_id,
            transitions.COMPLETE,
            expected_version=0,
            changes={"status": "completed", "progress": 100, "result": ResultFile(key="k", size=1)},
        )
        assert done.status == TaskStatus.COMPLETED and done.result == ResultFile(key="k", size=1)
        assert await store.get(task.task_id) == done

    async def test_a_transition_can_clear_fields(self, store: Any) -> None:
        task = await store.insert(
            make_task(status=TaskStatus.FAILED, next_retry_at=T0, error=TaskError(code="x", message="m"))
        )
        queued = await store.transition(
            task.task_id, transitions.RESTART, expected_version=0, changes={"next_retry_at": None, "error": None}
        )
        assert queued.status == TaskStatus.QUEUED and queued.next_retry_at is None and queued.error is None
        assert await store.get(task.task_id) == queued

    async def test_a_stale_version_conflicts_and_changes_nothing(self, store: Any) -> None:
        task = await store.insert(make_task(status=TaskStatus.QUEUED))
        first = await store.transition(
            task.task_id, transitions.REPOSITION, expected_version=0, changes={"queue_position": 1}
        )
        with pytest.raises(Conflict):
            await store.transition(task.task_id, transitions.DISPATCH, expected_version=0, changes={"attempts": 1})
        assert await store.get(task.task_id) == first

    async def test_a_status_the_transition_does_not_leave_conflicts_and_changes_nothing(self, store: Any) -> None:
        task = await store.insert(make_task(status=TaskStatus.COMPLETED))
        with pytest.raises(Conflict) as raised:
            await store.transition(task.task_id, transitions.CANCEL_WAITING, expected_version=0)
        assert "cancel_waiting" in raised.value.message and "completed" in raised.value.message
        assert await store.get(task.task_id) == task

    async def test_a_transition_of_a_missing_task_is_not_found(self, store: Any) -> None:
        with pytest.raises(NotFound):
            await store.transition("nope", transitions.REPOSITION, expected_version=0, changes={})

    # refusals: what the state machine does not allow never reaches the data

    @pytest.mark.parametrize(
        "transition",
        [
            "dispatch",
            Transition(
                "teleport",
                (TaskStatus.CREATED,),
                TaskStatus.COMPLETED,
                Component.GATEWAY,
                frozenset({"result"}),
                "not in the table",
            ),
            replace(transitions.DISPATCH, target=TaskStatus.COMPLETED),
            replace(transitions.DISPATCH, fields=transitions.DISPATCH.fields | {"result"}),
        ],
        ids=["a name", "a made-up transition", "a changed target", "more fields"],
    )
    async def test_a_transition_not_in_the_table_is_refused(self, store: Any, transition: Any) -> None:
        task = await store.insert(make_task(status=TaskStatus.QUEUED))
        with pytest.raises(InvalidTransition):
            await store.transition(task.task_id, transition, expected_version=0, changes={})
        assert await store.get(task.task_id) == task

    @pytest.mark.parametrize("status", ["completed", TaskStatus.CANCELLED, TaskStatus.QUEUED, "no such status"])
    async def test_a_status_other_than_the_target_is_refused(self, store: Any, status: Any) -> None:
        task = await store.insert(make_task(status=TaskStatus.QUEUED))
        with pytest.raises(InvalidTransition):
            await store.transition(task.task_id, transitions.DISPATCH, expected_version=0, changes={"status": status})
        assert await store.get(task.task_id) == task

    @pytest.mark.parametrize(
        ("transition", "changes"),
        [
            (transitions.REPOSITION, {"progress": 50.0}),
            (transitions.DISPATCH, {"attempts": 1, "result": ResultFile(key="k", size=1)}),
            (transitions.UPLOAD, {"config": {"regions": []}}),
            (transitions.EXPIRE_FILES, {"hidden": True}),
        ],
        ids=["reposition sets progress", "dispatch sets a result", "upload sets config", "expiry hides"],
    )
    async def test_a_field_the_transition_may_not_set_is_refused(
        self, store: Any, transition: Transition, changes: dict[str, Any]
    ) -> None:
        source = transition.sources[0]
        task = await store.insert(make_task(status=source))
        with pytest.raises(InvalidTransition) as raised:
            await store.transition(task.task_id, transition, expected_version=0, changes=changes)
        assert transition.name in raised.value.message
        assert await store.get(task.task_id) == task

    async def test_a_refusal_comes_before_the_task_is_looked_up(self, store: Any) -> None:
        with pytest.raises(InvalidTransition):
            await store.transition("nope", transitions.REPOSITION, expected_version=0, changes={"progress": 1.0})

    @pytest.mark.parametrize(
        "changes", [{"user_id": "bob"}, {"version": 9}, {"created_at": T0}, {"no_such_field": 1}, {"progress": "x"}]
    )
    async def test_a_transition_refuses_bad_changes(self, store: Any, changes: dict[str, Any]) -> None:
        task = await store.insert(make_task(status=TaskStatus.QUEUED))
        with pytest.raises(ValueError):
            await store.transition(task.task_id, transitions.DISPATCH, expected_version=0, changes=changes)
        assert await store.get(task.task_id) == task

    async def test_concurrent_transitions_on_one_version_have_exactly_one_winner(self, store: Any) -> None:
        task = await store.insert(make_task(status=TaskStatus.QUEUED))
        outcomes = await asyncio.gather(
            *(
                store.transition(
                    task.task_id,
                    transitions.DISPATCH,
                    expected_version=0,
                    changes={"attempts": 1, "message": f"claimed by {n}"},
                )
                for n in range(20)
            ),
            return_exceptions=True,
        )
        winners = [o for o in outcomes if isinstance(o, Task)]
        assert len(winners) == 1
        assert all(isinstance(o, Conflict) for o in outcomes if not isinstance(o, Task))
        stored = await store.get(task.task_id)
        assert stored == winners[0] and stored.version == 1

    # listing

    async def test_listing_is_newest_first_with_task_id_breaking_ties(self, store: Any) -> None:
        older = await store.insert(make_task(at=T0))
        same = [await store.insert(make_task(at=T0 + timedelta(seconds=1), task_id=t)) for t in ("b", "c", "a")]
        await store.insert(make_task("bob", at=T0 + timedelta(seconds=2)))
        page = await store.list_for_user("alice")
        assert ids(page.items) == ["c", "b", "a", older.task_id] and page.next_cursor is None
        assert ids(page.items)[:3] == sorted(ids(same), reverse=True)

    async def test_pagination_is_stable_while_tasks_are_added(self, store: Any, clock: FakeClock) -> None:
        originals = await self.insert_many(store, 30)
        expected = list(reversed(ids(originals)))
        seen: list[str] = []
        added: list[str] = []
        cursor = None
        while True:
            page = await store.list_for_user("alice", cursor=cursor, limit=7)
            seen += ids(page.items)
            # newer tasks land between page fetches, as when the user keeps submitting
            for _ in range(3):
                await clock.advance(1)
                added.append((await store.insert(make_task(at=clock.now()))).task_id)
            cursor = page.next_cursor
            if cursor is None:
                break
        assert seen == expected
        fresh = await store.list_for_user("alice", limit=100)
        assert ids(fresh.items) == list(reversed(added)) + expected

    async def test_the_last_full_page_has_no_cursor(self, store: Any) -> None:
        await self.insert_many(store, 10)
        first = await store.list_for_user("alice", limit=5)
        second = await store.list_for_user("alice", limit=5, cursor=first.next_cursor)
        assert len(first.items) == len(second.items) == 5
        assert first.next_cursor is not None and second.next_cursor is None
        assert not set(ids(first.items)) & set(ids(second.items))

    @pytest.mark.parametrize("cursor", ["garbage!", "WzEsMl0", "eyJhIjoxfQ", ""])
    async def test_a_forged_cursor_is_invalid_input(self, store: Any, cursor: str) -> None:
        with pytest.raises(InvalidInput):
            await store.list_for_user("alice", cursor=cursor)

    async def test_listing_filters(self, store: Any) -> None:
        queued = await store.insert(make_task(at=T0, status=TaskStatus.QUEUED))
        merge = await store.insert(make_task(at=T0 + timedelta(seconds=1), task_type=TaskType.VIDEO_MERGE))
        done = await store.insert(make_task(at=T0 + timedelta(seconds=2), status=TaskStatus.COMPLETED))
        hidden = await store.insert(make_task(at=T0 + timedelta(seconds=3), status=TaskStatus.FAILED, hidden=True))
        notified = await store.insert(
            make_task(at=T0 + timedelta(seconds=4), status=TaskStatus.COMPLETED, notified=True)
        )
        await store.insert(make_task("bob", at=T0 + timedelta(seconds=5), status=TaskStatus.COMPLETED))

        async def listed(**filters: Any) -> list[str]:
            return ids((await store.list_for_user("alice", **filters)).items)

        assert await listed() == ids([notified, done, merge, queued])
        assert await listed(include_hidden=True) == ids([notified, hidden, done, merge, queued])
        assert await listed(statuses=[TaskStatus.COMPLETED]) == ids([notified, done])
        assert await listed(statuses=[TaskStatus.FAILED]) == []
        assert await listed(statuses=[TaskStatus.FAILED], include_hidden=True) == ids([hidden])
        assert await listed(statuses=[]) == []
        assert await listed(task_type=TaskType.VIDEO_MERGE) == ids([merge])
        assert await listed(notified=True) == ids([notified])
        assert await listed(notified=False, statuses={"completed", "queued"}) == ids([done, queued])
        first = await store.list_for_user("alice", statuses=["completed", "queued", "created"], limit=2)
        rest = await store.list_for_user(
            "alice", statuses=["completed", "queued", "created"], limit=2, cursor=first.next_cursor
        )
        assert ids(first.items) + ids(rest.items) == ids([notified, done, merge, queued])

    async def test_counts_by_status(self, store: Any) -> None:
        for status, n in ((TaskStatus.QUEUED, 3), (TaskStatus.COMPLETED, 2)):
            await self.insert_many(store, n, status=status)
        await store.insert(make_task(status=TaskStatus.COMPLETED, hidden=True))
        await store.insert(make_task(status=TaskStatus.FAILED, hidden=True))
        await self.insert_many(store, 4, "bob", status=TaskStatus.PROCESSING)
        assert await store.count_by_status("alice") == {"queued": 3, "completed": 2}
        with_hidden = await store.count_by_status("alice", include_hidden=True)
        assert with_hidden == {"queued": 3, "completed": 3, "failed": 1}
        assert await store.count_by_status("nobody") == {}

    # duplicate suppression

    async def test_finds_the_newest_duplicate_within_the_window_only(self, store: Any) -> None:
        await store.insert(make_task(at=T0, fingerprint="f1"))
        newest = await store.insert(make_task(at=T0 + timedelta(minutes=5), fingerprint="f1"))
        await store.insert(make_task(at=T0 + timedelta(minutes=6), fingerprint="f2"))
        await store.insert(make_task("bob", at=T0 + timedelta(minutes=7), fingerprint="f1"))
        assert await store.find_by_fingerprint("alice", "f1", T0) == newest
        # the window's start is inclusive, to the microsecond
        assert await store.find_by_fingerprint("alice", "f1", newest.created_at) == newest
        just_after = newest.created_at + timedelta(microseconds=1)
        assert await store.find_by_fingerprint("alice", "f1", just_after) is None
        assert await store.find_by_fingerprint("carol", "f1", T0) is None
        assert await store.find_by_fingerprint("alice", "f3", T0) is None

    # progress

    async def test_progress_only_moves_forward(self, store: Any, clock: FakeClock) -> None:
        task = await store.insert(running_task())
        await clock.advance(1)
        lease = clock.now() + timedelta(seconds=30)
        moved = await store.update_progress(
            task.task_id,
            attempt=1,
            progress=40,
            stage="encode",
            eta_seconds=12.5,
            message="encoding",
            lease_expires_at=lease,
        )
        assert (moved.progress, moved.stage, moved.eta_seconds, moved.message) == (40, "encode", 12.5, "encoding")
        assert moved.lease_expires_at == lease and moved.updated_at == clock.now()
        assert moved.version == task.version
        assert await store.update_progress(task.task_id, attempt=1, progress=39.9) is None
        assert (await store.get(task.task_id)) == moved
        same = await store.update_progress(task.task_id, attempt=1, progress=40, message="still encoding")
        assert same.progress == 40 and same.message == "still encoding" and same.stage == "encode"

    async def test_concurrent_progress_reports_keep_the_highest(self, store: Any) -> None:
        task = await store.insert(running_task())
        reports = [37, 5, 91, 12, 90, 64, 3, 88, 91, 50]
        await asyncio.gather(*(store.update_progress(task.task_id, attempt=1, progress=p) for p in reports))
        assert (await store.get(task.task_id)).progress == 91

    async def test_progress_is_ignored_for_another_attempt_or_a_task_not_running(self, store: Any) -> None:
        running = await store.insert(running_task(attempt=2))
        assert await store.update_progress(running.task_id, attempt=1, progress=50) is None
        assert await store.update_progress(running.task_id, attempt=3, progress=50) is None
        queued = await store.insert(make_task(status=TaskStatus.QUEUED, attempts=1))
        assert await store.update_progress(queued.task_id, attempt=1, progress=50) is None
        retrying = await store.insert(make_task(status=TaskStatus.RETRYING, attempts=1))
        assert await store.update_progress(retrying.task_id, attempt=1, progress=50) is None
        assert await store.update_progress("nope", attempt=1, progress=50) is None
        for task in (running, queued, retrying):
            assert await store.get(task.task_id) == task

    async def test_progress_applies_while_cancelling_and_replaces_the_ordered_stages(self, store: Any) -> None:
        task = await store.insert(running_task(status=TaskStatus.CANCELLING, subtasks={"probe": 100.0}))
        assert task.subtasks == [SubTask(name="probe", status=SubTaskStatus.COMPLETED, progress=100)]
        first = [
            SubTask(name="probe", status=SubTaskStatus.COMPLETED, progress=100),
            SubTask(name="decode", status=SubTaskStatus.RUNNING, progress=50, message="frame 5 of 10"),
            SubTask(name="enc"),
        ]
        one = await store.update_progress(task.task_id, attempt=1, progress=20, subtasks=first)
        second = [first[0], first[1].model_copy(update={"progress": 80.0}), SubTask(name="enc", progress=5)]
        two = await store.update_progress(task.task_id, attempt=1, progress=30, subtasks=second)
        assert one.subtasks == first
        assert two.subtasks == second  # in the declared order, message kept
        assert await store.get(task.task_id) == two
        assert two.version == 0 and two.status == TaskStatus.CANCELLING

    async def test_progress_is_a_percentage(self, store: Any) -> None:
        task = await store.insert(running_task())
        assert (await store.update_progress(task.task_id, attempt=1, progress=250)).progress == 100
        with pytest.raises(InvalidInput):
            await store.update_progress(
                task.task_id, attempt=1, progress=100, subtasks=[SubTask(name="a"), SubTask(name="a")]
            )

    # user-owned flags

    async def test_user_flags_only_for_the_owner(self, store: Any, clock: FakeClock) -> None:
        task = await store.insert(make_task(status=TaskStatus.COMPLETED))
        assert await store.set_user_flags(task.task_id, "bob", hidden=True) is None
        assert await store.get(task.task_id) == task
        await clock.advance(1)
        flagged = await store.set_user_flags(task.task_id, "alice", hidden=True, notified=True)
        assert flagged.hidden and flagged.notified and flagged.updated_at == clock.now()
        assert flagged.version == task.version
        assert (await store.list_for_user("alice")).items == []
        unhidden = await store.set_user_flags(task.task_id, "alice", hidden=False)
        assert not unhidden.hidden and unhidden.notified
        assert await store.set_user_flags(task.task_id, "alice") == unhidden
        assert await store.set_user_flags("nope", "alice", hidden=True) is None

    # requested controls (gateway records, scheduler clears)

    @pytest.mark.parametrize("kind", list(ControlKind))
    async def test_a_control_is_recorded_only_in_the_statuses_that_allow_it(
        self, store: Any, clock: FakeClock, kind: ControlKind
    ) -> None:
        for status in TaskStatus:
            task = await store.insert(make_task(status=status, version=3))
            await clock.advance(1)
            control = RequestedControl(kind=kind, requested_at=clock.now())
            if status in CONTROL_STATUSES[kind]:
                recorded = await store.request_control(task.task_id, "alice", control)
                assert recorded == task.model_copy(update={"control": control, "version": 4, "updated_at": clock.now()})
                assert await store.get(task.task_id) == recorded
            else:
                with pytest.raises(Conflict):
                    await store.request_control(task.task_id, "alice", control)
                assert await store.get(task.task_id) == task

    async def test_a_control_is_recorded_only_for_the_owner(self, store: Any) -> None:
        task = await store.insert(make_task(status=TaskStatus.QUEUED))
        control = RequestedControl(kind=ControlKind.CANCEL, requested_at=T0)
        assert await store.request_control(task.task_id, "bob", control) is None
        assert await store.request_control("nope", "alice", control) is None
        assert await store.get(task.task_id) == task

    async def test_a_recorded_control_makes_a_transition_from_an_older_read_conflict(self, store: Any) -> None:
        task = await store.insert(make_task(status=TaskStatus.QUEUED))
        control = RequestedControl(kind=ControlKind.CANCEL, requested_at=T0)
        recorded = await store.request_control(task.task_id, "alice", control)
        with pytest.raises(Conflict):
            await store.transition(task.task_id, transitions.DISPATCH, expected_version=task.version)
        cancelled = await store.transition(
            task.task_id, transitions.CANCEL_WAITING, expected_version=recorded.version, changes={"message": "x"}
        )
        assert cancelled.control == control  # kept unless the transition clears it

    async def test_only_the_transitions_that_carry_a_control_out_may_clear_it(self, store: Any) -> None:
        clearing = {transitions.CANCEL_WAITING, transitions.REQUEST_CANCEL, transitions.RESTART}
        task = await store.insert(make_task(status=TaskStatus.QUEUED))
        for transition in set(transitions.TRANSITIONS.values()) - clearing:
            with pytest.raises(InvalidTransition):
                await store.transition(
                    task.task_id, transition, expected_version=task.version, changes={"control": None}
                )
        control = RequestedControl(kind=ControlKind.CANCEL, requested_at=T0)
        recorded = await store.request_control(task.task_id, "alice", control)
        cancelled = await store.transition(
            task.task_id, transitions.CANCEL_WAITING, expected_version=recorded.version, changes={"control": None}
        )
        assert cancelled.control is None and cancelled.status is TaskStatus.CANCELLED

    async def test_a_control_is_cleared_only_on_the_version_it_was_seen_with(self, store: Any) -> None:
        task = await store.insert(make_task(status=TaskStatus.FAILED))
        retry = RequestedControl(kind=ControlKind.RETRY, requested_at=T0)
        recorded = await store.request_control(task.task_id, "alice", retry)
        again = await store.request_control(
            task.task_id, "alice", retry.model_copy(update={"requested_at": T0 + timedelta(seconds=1)})
        )
        assert await store.clear_control(task.task_id, expected_version=recorded.version) is None
        assert (await store.get(task.task_id)).control == again.control  # the later request stands
        cleared = await store.clear_control(task.task_id, expected_version=again.version)
        assert cleared == again.model_copy(update={"control": None})  # no version bump, nothing else changed
        assert await store.get(task.task_id) == cleared
        assert await store.clear_control(task.task_id, expected_version=again.version) is None  # nothing left
        assert await store.clear_control("nope", expected_version=0) is None

    async def test_tasks_with_a_control_are_listed_by_id_in_pages(self, store: Any) -> None:
        controlled = []
        for n in range(7):
            task = await store.insert(make_task(f"user{n}", task_id=f"t{n:02d}", status=TaskStatus.QUEUED))
            if n % 2 == 0:
                control = RequestedControl(kind=ControlKind.CANCEL, requested_at=T0)
                controlled.append(await store.request_control(task.task_id, task.user_id, control))
        assert await store.list_controlled() == controlled
        assert await store.list_controlled(limit=2) == controlled[:2]
        assert await store.list_controlled(after=controlled[1].task_id) == controlled[2:]
        await store.clear_control(controlled[0].task_id, expected_version=controlled[0].version)
        assert ids(await store.list_controlled()) == ids(controlled[1:])

    # watermark detection on drafts

    async def test_detection_is_kept_on_a_draft_and_answered_only_for_its_request(
        self, store: Any, clock: FakeClock
    ) -> None:
        task = await store.insert(make_task(status=TaskStatus.UPLOADED))
        first = TaskDetection(state="pending", message="Looking", request_id="r1", requested_at=clock.now())
        pending = await store.set_detection(task.task_id, first)
        assert pending.detection == first and pending.version == task.version
        again = first.model_copy(update={"request_id": "r2"})
        await store.set_detection(task.task_id, again)
        stale = TaskDetection(state="nothing_found", message="No watermark found", request_id="r1")
        assert await store.set_detection(task.task_id, stale, answers="r1") is None
        assert (await store.get(task.task_id)).detection == again
        await clock.advance(1)
        found = TaskDetection(
            state="done",
            regions=[DetectedBox(box=(10, 20, 30, 40), confidence=0.9)],
            message="Found 1 watermark",
            request_id="r2",
            requested_at=T0,
            finished_at=clock.now(),
        )
        answered = await store.set_detection(task.task_id, found, answers="r2")
        assert answered.detection == found and answered.updated_at == clock.now()
        assert await store.get(task.task_id) == answered
        assert answered.detection.regions[0].box == (10, 20, 30, 40)

    async def test_detection_is_never_written_on_a_submitted_or_missing_task(self, store: Any) -> None:
        task = await store.insert(make_task(status=TaskStatus.QUEUED))
        pending = TaskDetection(state="pending", request_id="r1")
        assert await store.set_detection(task.task_id, pending) is None
        assert (await store.get(task.task_id)).detection is None
        assert await store.set_detection("nope", pending) is None

    # scheduler and cleanup scans

    async def test_lists_by_status_oldest_submitted_first_across_users(self, store: Any) -> None:
        late = await store.insert(make_task("alice", at=T0, status="queued", submitted_at=T0 + timedelta(hours=2)))
        early = await store.insert(make_task("bob", at=T0, status="queued", submitted_at=T0 + timedelta(hours=1)))
        running = await store.insert(make_task("carol", at=T0, status="processing", submitted_at=T0))
        await store.insert(make_task("dave", at=T0, status="completed", submitted_at=T0))
        active = await store.list_by_status([TaskStatus.QUEUED, TaskStatus.PROCESSING])
        assert ids(active) == ids([running, early, late])
        assert ids(await store.list_by_status([TaskStatus.QUEUED], limit=1)) == ids([early])
        assert ids(await store.list_by_status([TaskStatus.QUEUED], after=early.task_id)) == ids([late])
        assert await store.list_by_status([]) == []

    async def test_lists_by_status_in_pages(self, store: Any) -> None:
        drafts = await self.insert_many(store, 25)
        seen: list[str] = []
        after = None
        while page := await store.list_by_status([TaskStatus.CREATED], limit=10, after=after):
            seen += ids(page)
            after = page[-1].task_id
        assert seen == ids(drafts)

    async def test_deleting_while_paging_by_status_reaches_every_task(self, store: Any) -> None:
        drafts = await self.insert_many(store, 12)
        kept = await store.insert(make_task(status=TaskStatus.QUEUED))
        deleted: list[str] = []
        after = None
        while page := await store.list_by_status([TaskStatus.CREATED], limit=5, after=after):
            for task in page:
                assert await store.delete(task.task_id)
                deleted.append(task.task_id)
            after = page[-1].task_id
        assert deleted == ids(drafts)
        assert await store.get(kept.task_id) == kept

    async def test_search_across_users_by_every_filter(self, store: Any) -> None:
        failed = await store.insert(
            make_task(at=T0, status=TaskStatus.FAILED, error=TaskError(code="worker_lost", message="lost"))
        )
        hidden = await store.insert(
            make_task(
                "bob", at=T0 + timedelta(seconds=1), status=TaskStatus.FAILED, hidden=True,
                error=TaskError(code="invalid_media", message="bad"),
            )
        )  # fmt: skip
        merge = await store.insert(make_task("bob", at=T0 + timedelta(seconds=2), task_type=TaskType.VIDEO_MERGE))
        queued = await store.insert(make_task("carol", at=T0 + timedelta(seconds=3), status=TaskStatus.QUEUED))

        async def found(**filters: Any) -> list[str]:
            return ids((await store.search_tasks(**filters)).items)

        assert await found() == ids([queued, merge, hidden, failed])
        assert await found(task_id=merge.task_id) == ids([merge])
        assert await found(user_id="bob") == ids([merge, hidden])
        assert await found(statuses=[TaskStatus.FAILED]) == ids([hidden, failed])
        assert await found(statuses=[]) == []
        assert await found(task_type=TaskType.VIDEO_MERGE) == ids([merge])
        assert await found(error_code="worker_lost") == ids([failed])
        assert await found(error_code="invalid_media", user_id="bob", statuses=["failed"]) == ids([hidden])
        assert await found(error_code="nothing_like_it") == []
        first = await store.search_tasks(limit=3)
        rest = await store.search_tasks(limit=3, cursor=first.next_cursor)
        assert ids(first.items) + ids(rest.items) == ids([queued, merge, hidden, failed])
        assert rest.next_cursor is None

    async def test_records_are_written_replaced_and_read_back(self, store: Any) -> None:
        assert await store.get_record("quotas") is None
        await store.put_record("quotas", {"per_user": 2, "per_pool": {"merge": 0}, "total": None})
        assert await store.get_record("quotas") == {"per_user": 2, "per_pool": {"merge": 0}, "total": None}
        await store.put_record("quotas", {"per_user": 3})
        assert await store.get_record("quotas") == {"per_user": 3}
        assert await store.get_record("other") is None

    async def test_history_is_kept_per_task_in_the_order_appended(self, store: Any) -> None:
        assert await store.list_history("t1") == []
        await store.append_history([{"task_id": "t1", "event": "dispatched", "attempt": 1}])
        await store.append_history(
            [
                {"task_id": "t2", "event": "dispatched", "attempt": 1},
                {"task_id": "t1", "event": "started", "attempt": 1, "worker": "w1"},
                {"task_id": "t1", "event": "failed", "attempt": 1, "error": {"code": "x", "message": "m"}},
            ]
        )
        await store.append_history([])
        history = await store.list_history("t1")
        assert [e["event"] for e in history] == ["dispatched", "started", "failed"]
        assert history[1] == {"task_id": "t1", "event": "started", "attempt": 1, "worker": "w1"}
        assert [e["event"] for e in await store.list_history("t1", limit=2)] == ["started", "failed"]
        assert [e["event"] for e in await store.list_history("t2")] == ["dispatched"]

    async def test_a_stale_users_tasks_take_their_history_with_them(self, store: Any, clock: FakeClock) -> None:
        await store.create_user(User(user_id="gone", created_at=T0, last_accessed=T0))
        old = await store.insert(make_task("gone", status=TaskStatus.EXPIRED))
        await store.append_history([{"task_id": old.task_id, "event": "completed"}, {"task_id": "kept", "event": "x"}])

        assert await store.delete_stale_user("gone", seen_before=T0 + timedelta(days=1)) == 1

        assert await store.list_history(old.task_id) == []
        assert len(await store.list_history("kept")) == 1

    async def test_delete(self, store: Any) -> None:
        task = await store.insert(make_task())
        assert await store.delete(task.task_id) is True
        assert await store.get(task.task_id) is None
        assert await store.delete(task.task_id) is False

    # users

    async def test_users_round_trip_and_ids_are_unique(self, store: Any) -> None:
        user = User(user_id="u1", created_at=T0, last_accessed=T0, metadata={"ua": "firefox"})
        assert await store.create_user(user) == user
        assert await store.get_user("u1") == user
        with pytest.raises(Conflict):
            await store.create_user(User(user_id="u1", created_at=T0, last_accessed=T0))
        assert await store.get_user("u1") == user
        assert await store.get_user("nobody") is None

    async def test_touching_a_user_only_moves_last_access_forward(self, store: Any) -> None:
        await store.create_user(User(user_id="u1", created_at=T0, last_accessed=T0))
        later = T0 + timedelta(days=1, microseconds=7)
        assert await store.touch_user("u1", later) is True
        assert (await store.get_user("u1")).last_accessed == later
        assert await store.touch_user("u1", T0) is True
        user = await store.get_user("u1")
        assert user.last_accessed == later and user.created_at == T0
        assert await store.touch_user("nobody", later) is False
        assert await store.get_user("nobody") is None

    async def test_stale_users_are_listed_and_removed_with_their_expired_tasks_only(self, store: Any) -> None:
        cut = T0 + timedelta(days=31)
        for name, seen in (("gone", T0), ("busy", T0), ("fresh", cut), ("bare", T0 + timedelta(days=1))):
            await store.create_user(User(user_id=name, created_at=T0, last_accessed=seen))
        for i in range(3):
            await store.insert(make_task("gone", task_id=f"g{i}", status=TaskStatus.EXPIRED))
        await store.insert(make_task("busy", task_id="b0", status=TaskStatus.EXPIRED))
        await store.insert(make_task("busy", task_id="b1", status=TaskStatus.COMPLETED))
        await store.insert(make_task("fresh", task_id="f0", status=TaskStatus.EXPIRED))

        assert [u.user_id for u in await store.list_stale_users(cut)] == ["bare", "busy", "gone"]
        first = await store.list_stale_users(cut, limit=2)
        assert [u.user_id for u in first] == ["bare", "busy"]
        assert [u.user_id for u in await store.list_stale_users(cut, after="busy")] == ["gone"]
        assert first[0].last_accessed == T0 + timedelta(days=1)

        assert await store.delete_stale_user("busy", seen_before=cut) is None  # a task still has files
        assert await store.delete_stale_user("fresh", seen_before=cut) is None  # seen since
        assert await store.delete_stale_user("nobody", seen_before=cut) is None
        assert await store.delete_stale_user("gone", seen_before=cut) == 3
        assert await store.delete_stale_user("bare", seen_before=cut) == 0
        assert await store.delete_stale_user("gone", seen_before=cut) is None  # already removed

        assert await store.get_user("gone") is None and await store.get_user("bare") is None
        assert all([await store.get(f"g{i}") is None for i in range(3)])
        assert {t.task_id for t in await store.list_by_status(list(TaskStatus))} == {"b0", "b1", "f0"}
        assert await store.get_user("busy") is not None and await store.get_user("fresh") is not None
        assert [u.user_id for u in await store.list_stale_users(cut)] == ["busy"]

    async def test_user_metadata_keys_are_set_replaced_and_removed_one_at_a_time(self, store: Any) -> None:
        await store.create_user(User(user_id="u1", created_at=T0, last_accessed=T0, metadata={"ua": "firefox"}))
        usage = {"bytes": 2048, "objects": 2, "quota_bytes": None, "measured_at": "2026-03-01T12:00:00Z"}
        assert await store.set_user_metadata("u1", "storage", usage) is True
        assert (await store.get_user("u1")).metadata == {"ua": "firefox", "storage": usage}
        assert await store.set_user_metadata("u1", "storage", {"bytes": 0, "objects": 0}) is True
        assert (await store.get_user("u1")).metadata == {"ua": "firefox", "storage": {"bytes": 0, "objects": 0}}
        assert await store.set_user_metadata("u1", "storage", None) is True
        user = await store.get_user("u1")
        assert user.metadata == {"ua": "firefox"} and user.last_accessed == T0
        assert await store.set_user_metadata("nobody", "storage", {"bytes": 1}) is False
        assert await store.get_user("nobody") is None

    @pytest.mark.parametrize("key", ["", "a.b", "$set", 'x"y', "a b", "k" * 65])
    async def test_a_user_metadata_key_that_could_be_a_path_is_refused(self, store: Any, key: str) -> None:
        await store.create_user(User(user_id="u1", created_at=T0, last_accessed=T0))
        with pytest.raises(InvalidInput):
            await store.set_user_metadata("u1", key, 1)
        assert (await store.get_user("u1")).metadata == {}

    # leases

    async def test_a_lease_has_one_holder_until_it_lapses(self, store: Any, clock: FakeClock) -> None:
        assert await store.acquire_lease("cleanup", "a", ttl_seconds=60) is True
        assert await store.acquire_lease("cleanup", "b", ttl_seconds=60) is False
        assert await store.acquire_lease("other", "b", ttl_seconds=60) is True  # names are independent
        await clock.advance(50)
        assert await store.acquire_lease("cleanup", "a", ttl_seconds=60) is True  # renewed to t+110
        await clock.advance(50)
        assert await store.acquire_lease("cleanup", "b", ttl_seconds=60) is False
        await clock.advance(10)
        assert await store.acquire_lease("cleanup", "b", ttl_seconds=60) is True  # a's lease lapsed
        assert await store.acquire_lease("cleanup", "a", ttl_seconds=60) is False

    async def test_only_the_holder_releases_a_lease(self, store: Any) -> None:
        assert await store.acquire_lease("cleanup", "a", ttl_seconds=60) is True
        assert await store.release_lease("cleanup", "b") is False
        assert await store.acquire_lease("cleanup", "b", ttl_seconds=60) is False
        assert await store.release_lease("cleanup", "a") is True
        assert await store.release_lease("cleanup", "a") is False
        assert await store.acquire_lease("cleanup", "b", ttl_seconds=60) is True

    async def test_concurrent_acquires_have_exactly_one_winner(self, store: Any, clock: FakeClock) -> None:
        won = await asyncio.gather(*(store.acquire_lease("cleanup", f"h{n}", ttl_seconds=30) for n in range(20)))
        assert won.count(True) == 1
        await clock.advance(31)
        won = await asyncio.gather(*(store.acquire_lease("cleanup", f"h{n}", ttl_seconds=30) for n in range(20)))
        assert won.count(True) == 1

    async def test_a_lease_outlives_reopening(self, make_store: Any, clock: FakeClock) -> None:
        first = make_store(clock)
        await first.start()
        assert await first.acquire_lease("cleanup", "a", ttl_seconds=60) is True
        await first.close()
        second = make_store(clock)
        await second.start()
        try:
            assert await second.acquire_lease("cleanup", "b", ttl_seconds=60) is False
        finally:
            await second.close()

    # lifecycle

    async def test_ping_and_start_is_idempotent(self, store: Any) -> None:
        await store.start()
        assert await store.ping() is True

    async def test_data_survives_close_and_reopen(self, make_store: Any, clock: FakeClock) -> None:
        first = make_store(clock)
        await first.start()
        task = await first.insert(make_task())
        moved = await first.transition(
            task.task_id, transitions.UPLOAD, expected_version=0, changes={"original_filename": "clip.mp4"}
        )
        await first.create_user(User(user_id="u1", created_at=T0, last_accessed=T0))
        await first.close()
        assert await first.ping() is False
        second = make_store(clock)
        await second.start()
        try:
            assert await second.get(task.task_id) == moved
            assert (await second.get_user("u1")).created_at == T0
        finally:
            await second.close()
