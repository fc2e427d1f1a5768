"""Objects no task uses are removed after the grace period, stale multipart uploads are aborted,
and nothing a task uses, or may be about to use, is touched. Against SeaweedFS."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

from mediacraft.cleanup.reasons import Reason
from mediacraft.cleanup.report import Kind
from mediacraft.cleanup.service import CleanupService
from mediacraft.shared import transitions
from mediacraft.shared.clock import FakeClock
from mediacraft.shared.errors import MediaCraftError
from mediacraft.shared.tasks import InputFile, Task, TaskStatus, TaskType
from tests.fixtures.seaweed import S3Server
from tests.integration.cleanup.world import DAY, HOUR, World, files_of, keys, put

ServiceFactory = Callable[..., CleanupService]


def server_uploads(seaweed: S3Server, bucket: str) -> list[str]:
    """Incomplete multipart uploads as the server lists them to a plain client."""
    return [u.object_name for u in seaweed.client()._list_multipart_uploads(bucket).uploads]


async def test_orphans_are_removed_after_the_grace_period(
    world: World, store: Any, objects: Any, make_service: ServiceFactory, clock: FakeClock
) -> None:
    done = await world.finished(TaskStatus.COMPLETED, age=DAY)
    expired = await world.finished(TaskStatus.FAILED, age=DAY)
    # a pass that marked it, then crashed
    await store.transition(expired.task_id, transitions.EXPIRE_FILES, expected_version=expired.version)
    draft = await world.draft(TaskStatus.UPLOADED, age=HOUR)
    no_task = await put(objects, f"uploads/alice/{uuid.uuid4().hex}/lost-upload")
    no_task_result = await put(objects, f"results/{uuid.uuid4().hex}/1/out.mp4")
    stray = await put(objects, "uploads/not-in-the-layout")
    arriving = await put(objects, f"uploads/alice/{draft.task_id}/second-file")  # not attached yet
    outside = await put(objects, "previews/kept.jpg")  # cleanup owns uploads/ and results/ only

    inside_grace = await make_service().run_once()
    assert inside_grace.of_kind(Kind.ORPHAN) == []

    await clock.advance((6 * HOUR).total_seconds() + 60)  # the files were written after the clock started
    report = await make_service().run_once()

    reasons = {r.keys[0]: r.reason for r in report.of_kind(Kind.ORPHAN)}
    assert reasons == {
        no_task: Reason.ORPHAN_NO_TASK,
        no_task_result: Reason.ORPHAN_NO_TASK,
        stray: Reason.ORPHAN_BAD_KEY,
        f"results/{done.task_id}/1/partial.mp4": Reason.ORPHAN_UNREFERENCED,
        f"results/{expired.task_id}/1/partial.mp4": Reason.ORPHAN_TASK_EXPIRED,
        **dict.fromkeys(files_of(expired), Reason.ORPHAN_TASK_EXPIRED),
    }
    remaining = await keys(objects)
    assert not set(reasons) & remaining
    assert files_of(done) | files_of(draft) | {arriving, outside} <= remaining
    assert await store.get(done.task_id) == done and await store.get(draft.task_id) == draft


async def test_an_orphan_whose_task_appears_during_the_pass_is_kept(
    world: World, store: Any, objects: Any, make_service: ServiceFactory, clock: FakeClock
) -> None:
    task_id = uuid.uuid4().hex
    key = await put(objects, f"uploads/alice/{task_id}/in")
    await clock.advance((7 * HOUR).total_seconds())

    class TaskInsertedAfterScan:
        """The gateway inserts the task once the pass has scanned the store (a slow client)."""

        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

        def list(self, prefix: str = "") -> Any:
            return self._list(prefix)

        async def _list(self, prefix: str) -> Any:
            if prefix == "uploads/":
                await store.insert(
                    Task(
                        task_id=task_id,
                        user_id="alice",
                        task_type=TaskType.VIDEO_MERGE,
                        status=TaskStatus.UPLOADED,
                        created_at=clock.now(),
                        inputs=[InputFile(key=key, original_name="a.mp4", size=1000)],
                    )
                )
            async for info in self.inner.list(prefix):
                yield info

    report = await make_service(objects=TaskInsertedAfterScan(objects)).run_once()

    assert report.of_kind(Kind.ORPHAN) == []
    assert key in await keys(objects)


async def test_incomplete_multipart_uploads_older_than_a_day_are_aborted(
    seaweed: S3Server, objects: Any, make_service: ServiceFactory, clock: FakeClock
) -> None:
    client = seaweed.client()
    key = "uploads/alice/t-interrupted/big.mp4"
    upload_id = await asyncio.to_thread(client._create_multipart_upload, objects.bucket, key, {})

    await clock.advance((23 * HOUR).total_seconds())
    young = await make_service().run_once()
    assert young.of_kind(Kind.MULTIPART) == []
    assert server_uploads(seaweed, objects.bucket) == [key]

    await clock.advance((2 * HOUR).total_seconds())
    dry = await make_service().run_once(dry_run=True)
    assert [(r.keys, r.upload_id) for r in dry.of_kind(Kind.MULTIPART)] == [((key,), upload_id)]
    assert server_uploads(seaweed, objects.bucket) == [key]

    report = await make_service().run_once()
    removals = report.of_kind(Kind.MULTIPART)
    assert [(r.keys, r.upload_id, r.reason) for r in removals] == [((key,), upload_id, Reason.MULTIPART_STALE)]
    assert server_uploads(seaweed, objects.bucket) == []


async def test_files_an_outage_kept_from_deletion_go_as_orphans_later(
    world: World, store: Any, objects: Any, make_service: ServiceFactory, clock: FakeClock
) -> None:
    old = await world.finished(TaskStatus.COMPLETED, age=8 * DAY)

    class DeletesFail:
        """The object store refuses deletions (an S3 outage after the listing)."""

        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

        async def delete_prefix(self, prefix: str) -> int:
            raise MediaCraftError("storage unavailable", code="storage_error")

    during = await make_service(objects=DeletesFail(objects)).run_once()

    assert during.errors and during.of_kind(Kind.TASK_FILES) == []
    assert (await store.get(old.task_id)).status is TaskStatus.EXPIRED  # the user is told either way
    assert files_of(old) <= await keys(objects)

    await clock.advance((6 * HOUR).total_seconds() + 60)
    after = await make_service().run_once()

    assert {r.reason for r in after.of_kind(Kind.ORPHAN)} == {Reason.ORPHAN_TASK_EXPIRED}
    assert await keys(objects, f"results/{old.task_id}/") == set()
    assert await keys(objects, f"uploads/alice/{old.task_id}/") == set()
