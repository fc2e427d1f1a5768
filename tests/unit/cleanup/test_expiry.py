"""What happens to a task in a pass: retention per status, drafts, hidden tasks, running tasks."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest

from mediacraft.cleanup.expiry import Action, decide, expired_message
from mediacraft.cleanup.reasons import Reason
from mediacraft.cleanup.settings import Settings
from mediacraft.shared.clock import FakeClock
from mediacraft.shared.tasks import ResultFile, Task, TaskStatus, TaskType

POLICY = Settings().expiry_policy()  # defaults: 7 days completed, 3 days failed/cancelled, 24 h drafts
DAY = timedelta(days=1)


def task(clock: FakeClock, status: TaskStatus, *, age: timedelta = timedelta(0), **fields: Any) -> Task:
    """A task in `status` created `age` ago; finished tasks finished then too."""
    at = clock.now() - age
    if status in (TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED):
        fields.setdefault("completed_at", at)
        fields.setdefault("submitted_at", at)
    return Task(
        task_id=uuid.uuid4().hex,
        user_id="alice",
        task_type=TaskType.WATERMARK_REMOVAL,
        status=status,
        created_at=at,
        **fields,
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.mark.parametrize(
    ("status", "retention", "reason"),
    [
        (TaskStatus.COMPLETED, 7 * DAY, Reason.RETENTION_COMPLETED),
        (TaskStatus.FAILED, 3 * DAY, Reason.RETENTION_FAILED),
        (TaskStatus.CANCELLED, 3 * DAY, Reason.RETENTION_CANCELLED),
    ],
)
async def test_a_finished_task_expires_exactly_when_its_status_retention_is_over(
    clock: FakeClock, status: TaskStatus, retention: timedelta, reason: Reason
) -> None:
    finished = task(clock, status)
    kept = decide(finished, clock.now(), POLICY)
    assert finished.completed_at is not None
    assert kept.action is Action.KEEP and kept.due_at == finished.completed_at + retention
    await clock.advance(retention.total_seconds() - 1)
    assert decide(finished, clock.now(), POLICY).action is Action.KEEP
    await clock.advance(1)
    due = decide(finished, clock.now(), POLICY)
    assert (due.action, due.reason) == (Action.EXPIRE, reason)


async def test_retention_counts_from_when_the_task_finished_not_when_it_was_created(clock: FakeClock) -> None:
    # created 30 days ago, finished (after a retry) 2 days ago: completed results stay 7 days
    late = task(clock, TaskStatus.COMPLETED, age=30 * DAY, completed_at=clock.now() - 2 * DAY)
    assert decide(late, clock.now(), POLICY).action is Action.KEEP


@pytest.mark.parametrize(
    "status", [TaskStatus.QUEUED, TaskStatus.PROCESSING, TaskStatus.RETRYING, TaskStatus.CANCELLING]
)
def test_a_task_that_may_be_running_is_never_touched(clock: FakeClock, status: TaskStatus) -> None:
    ancient = task(clock, status, age=365 * DAY, hidden=True, submitted_at=clock.now() - 365 * DAY)
    decision = decide(ancient, clock.now(), POLICY)
    assert decision.action is Action.KEEP and decision.reason is None


@pytest.mark.parametrize("status", [TaskStatus.CREATED, TaskStatus.UPLOADED])
async def test_a_draft_is_deleted_a_day_after_its_last_change(clock: FakeClock, status: TaskStatus) -> None:
    draft = task(clock, status, age=DAY - timedelta(seconds=1))
    assert decide(draft, clock.now(), POLICY).action is Action.KEEP
    await clock.advance(1)
    decision = decide(draft, clock.now(), POLICY)
    assert (decision.action, decision.reason) == (Action.DELETE_DRAFT, Reason.DRAFT_ABANDONED)


def test_a_draft_with_a_recent_upload_is_kept(clock: FakeClock) -> None:
    draft = task(clock, TaskStatus.UPLOADED, age=2 * DAY, updated_at=clock.now() - timedelta(hours=1))
    decision = decide(draft, clock.now(), POLICY)
    assert decision.action is Action.KEEP and decision.due_at == clock.now() + timedelta(hours=23)


@pytest.mark.parametrize("status", [TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED])
def test_a_hidden_finished_task_loses_its_files_at_once(clock: FakeClock, status: TaskStatus) -> None:
    hidden = task(clock, status, hidden=True)
    decision = decide(hidden, clock.now(), POLICY)
    assert (decision.action, decision.reason) == (Action.EXPIRE, Reason.HIDDEN)


@pytest.mark.parametrize("status", [TaskStatus.CREATED, TaskStatus.UPLOADED])
def test_a_draft_the_user_deleted_goes_at_once(clock: FakeClock, status: TaskStatus) -> None:
    decision = decide(task(clock, status, hidden=True), clock.now(), POLICY)
    assert (decision.action, decision.reason) == (Action.DELETE_DRAFT, Reason.HIDDEN)


def test_an_expired_task_stays_as_it_is_unless_it_is_a_draft_a_pass_did_not_finish(clock: FakeClock) -> None:
    expired = task(clock, TaskStatus.EXPIRED, age=90 * DAY, submitted_at=clock.now() - 90 * DAY)
    assert decide(expired, clock.now(), POLICY).action is Action.KEEP
    claimed_draft = task(clock, TaskStatus.EXPIRED, age=2 * DAY)  # never submitted
    assert decide(claimed_draft, clock.now(), POLICY).action is Action.DELETE_DRAFT


def test_a_finished_task_without_completed_at_uses_its_last_update(clock: FakeClock) -> None:
    old = task(clock, TaskStatus.FAILED, age=10 * DAY, completed_at=None, updated_at=clock.now() - DAY)
    assert decide(old, clock.now(), POLICY).action is Action.KEEP


def test_the_user_reads_why_the_files_are_gone(clock: FakeClock) -> None:
    done = task(clock, TaskStatus.COMPLETED, result=ResultFile(key="results/t/1/out.mp4", size=1))
    assert expired_message(done, Reason.RETENTION_COMPLETED, POLICY) == (
        "The result file has expired and was deleted: results are kept for 7 days."
    )
    failed = task(clock, TaskStatus.FAILED)
    assert "failed tasks are kept for 3 days" in expired_message(failed, Reason.RETENTION_FAILED, POLICY)
    draft = task(clock, TaskStatus.CREATED)
    assert "not submitted within 1 day" in expired_message(draft, Reason.DRAFT_ABANDONED, POLICY)
    assert "you removed it from your list" in expired_message(done, Reason.HIDDEN, POLICY)
