"""A dry run lists exactly what a real pass then removes, and changes nothing at all."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

from mediacraft.cleanup.report import Kind, Outcome
from mediacraft.cleanup.service import CleanupService
from mediacraft.shared.clock import FakeClock
from mediacraft.shared.tasks import TaskStatus
from tests.fixtures.seaweed import S3Server
from tests.integration.cleanup.conftest import LiveView
from tests.integration.cleanup.world import DAY, HOUR, World, files_of, put, snapshot

ServiceFactory = Callable[..., CleanupService]


async def test_a_dry_run_deletes_nothing_and_reports_what_a_pass_would_delete(
    world: World, store: Any, objects: Any, seaweed: S3Server, make_service: ServiceFactory,
    clock: FakeClock, live_view: LiveView,
) -> None:  # fmt: skip
    await world.user("alice")
    old_done = await world.finished(TaskStatus.COMPLETED, age=8 * DAY)
    kept_done = await world.finished(TaskStatus.COMPLETED, age=DAY)
    hidden = await world.finished(TaskStatus.FAILED, age=HOUR, hidden=True)
    draft = await world.draft(TaskStatus.UPLOADED, age=2 * DAY)
    running = await world.running(TaskStatus.PROCESSING, age=10 * DAY)
    orphan = await put(objects, f"uploads/alice/{uuid.uuid4().hex}/lost")
    client = seaweed.client()
    await asyncio.to_thread(client._create_multipart_upload, objects.bucket, "uploads/alice/x/big.mp4", {})
    await clock.advance((DAY + HOUR).total_seconds())  # the orphan and the upload are old now
    tasks_before = {t.task_id: await store.get(t.task_id) for t in (old_done, kept_done, hidden, draft, running)}
    user_before = await store.get_user("alice")
    objects_before = await snapshot(objects)
    uploads_before = await objects.list_incomplete_uploads()

    dry = await make_service(cleanup_dry_run=True).run_once()

    assert dry.outcome is Outcome.COMPLETED and dry.dry_run
    assert await snapshot(objects) == objects_before
    assert await objects.list_incomplete_uploads() == uploads_before
    assert {tid: await store.get(tid) for tid in tasks_before} == tasks_before
    assert await store.get_user("alice") == user_before  # not even the usage figure is written
    assert await live_view.events() == []
    assert await store.acquire_lease("cleanup", "someone-else", ttl_seconds=60)  # it took no lease
    await store.release_lease("cleanup", "someone-else")
    listed = {(r.kind, r.task_id) for r in dry.removals if r.kind in (Kind.TASK_FILES, Kind.DRAFT)}
    assert listed == {
        (Kind.TASK_FILES, old_done.task_id),
        (Kind.TASK_FILES, hidden.task_id),
        (Kind.DRAFT, draft.task_id),
    }
    assert dry.keys_of(Kind.ORPHAN) == {orphan, f"results/{kept_done.task_id}/1/partial.mp4"}
    assert dry.keys_of(Kind.MULTIPART) == {"uploads/alice/x/big.mp4"}
    assert files_of(old_done) | files_of(draft) <= dry.keys_of(Kind.TASK_FILES) | dry.keys_of(Kind.DRAFT)

    real = await make_service().run_once()

    assert [(r.kind, r.reason, r.keys, r.task_id) for r in real.removals] == [
        (r.kind, r.reason, r.keys, r.task_id) for r in dry.removals
    ]
    gone = set(objects_before) - set(await snapshot(objects))
    assert gone == {key for r in dry.removals if r.kind is not Kind.MULTIPART for key in r.keys}
    assert await store.get(running.task_id) == tasks_before[running.task_id]
