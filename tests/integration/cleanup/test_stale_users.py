"""Anonymous identities unseen past the cookie lifetime (+ a day) are removed with their expired
task records; a recent one, or one with a task still holding files, is kept. SQLite and MongoDB."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mediacraft.cleanup.reasons import Reason
from mediacraft.cleanup.report import Kind, Outcome
from mediacraft.cleanup.service import CleanupService
from mediacraft.shared.clock import FakeClock
from mediacraft.shared.tasks import TaskStatus
from tests.integration.cleanup.world import DAY, HOUR, World, keys

ServiceFactory = Callable[..., CleanupService]


async def test_identities_unseen_past_the_cookie_lifetime_go_with_their_expired_tasks(
    world: World, store: Any, objects: Any, clock: FakeClock, make_service: ServiceFactory
) -> None:
    # everyone arrives now; each finishes a task that the retention will expire
    for user in ("gone", "recent", "keeper"):
        await world.user(user)
    gone_tasks = [await world.finished(TaskStatus.COMPLETED, age=HOUR, user="gone") for _ in range(2)]
    gone_tasks.append(await world.finished(TaskStatus.FAILED, age=HOUR, user="gone"))
    recent_task = await world.finished(TaskStatus.COMPLETED, age=HOUR, user="recent")
    service = make_service()
    assert (await service.run_once()).of_kind(Kind.USER) == []

    await clock.advance((30 * DAY).total_seconds())  # the cookie lifetime: still within the day of grace
    await store.touch_user("recent", clock.now())  # "recent" came back
    report = await service.run_once()
    assert report.of_kind(Kind.USER) == []
    assert {(await store.get(t.task_id)).status for t in gone_tasks} == {TaskStatus.EXPIRED}  # files went

    # a day and an hour later "gone" and "keeper" are stale; "keeper" has a task still holding its files
    await clock.advance((DAY + HOUR).total_seconds())
    keeper_task = await world.finished(TaskStatus.COMPLETED, age=HOUR, user="keeper")
    report = await make_service(retention_completed=90 * DAY).run_once()
    assert report.outcome is Outcome.COMPLETED
    removed = report.of_kind(Kind.USER)
    assert [(r.user_id, r.reason, r.records) for r in removed] == [("gone", Reason.USER_STALE, 3)]
    assert await store.get_user("gone") is None
    assert all([await store.get(t.task_id) is None for t in gone_tasks])
    assert await keys(objects, "uploads/gone/") == set()

    assert await store.get_user("recent") is not None
    assert (await store.get(recent_task.task_id)).status is TaskStatus.EXPIRED  # its files went, the record stays
    assert await store.get_user("keeper") is not None
    assert (await store.get(keeper_task.task_id)).status is TaskStatus.COMPLETED


async def test_the_dry_run_reports_a_stale_identity_and_keeps_it(
    world: World, store: Any, clock: FakeClock, make_service: ServiceFactory
) -> None:
    await world.user("gone")
    await clock.advance((31 * DAY + HOUR).total_seconds())
    report = await make_service(cleanup_dry_run=True).run_once()
    assert [(r.user_id, r.records) for r in report.of_kind(Kind.USER)] == [("gone", 0)]
    assert await store.get_user("gone") is not None


async def test_the_removal_can_be_turned_off(
    world: World, store: Any, clock: FakeClock, make_service: ServiceFactory
) -> None:
    await world.user("gone")
    await clock.advance((60 * DAY).total_seconds())
    report = await make_service(remove_stale_users=False).run_once()
    assert report.of_kind(Kind.USER) == [] and await store.get_user("gone") is not None
