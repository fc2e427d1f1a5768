"""Storage usage per user lands on the user record (for GET /api/user/info and the upload quota)
and, with totals, in the Prometheus metrics."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mediacraft.cleanup.service import CleanupService
from mediacraft.shared.clock import FakeClock
from mediacraft.shared.tasks import TaskStatus
from tests.integration.cleanup.world import DAY, HOUR, World, put


def storage_of(user: Any) -> dict[str, Any]:
    return user.metadata["storage"]


async def test_usage_per_user_is_recorded_with_the_quota_and_falls_when_files_expire(
    world: World, store: Any, objects: Any, make_service: Callable[..., CleanupService], clock: FakeClock
) -> None:
    for user in ("alice", "bob", "carol"):
        await world.user(user)
    await store.set_user_metadata("alice", "ua", "firefox")  # another service's key stays
    done = await world.finished(TaskStatus.COMPLETED, age=6 * DAY, size=1500)  # upload, partial, result
    await world.draft(TaskStatus.UPLOADED, age=HOUR, user="bob", size=400)
    await put(objects, "results/unknown-task/1/out.mp4", 70)  # young, unattributed
    service = make_service(user_storage_quota_bytes=4000, storage_top_users=1)

    await service.run_once()

    alice, bob, carol = [await store.get_user(u) for u in ("alice", "bob", "carol")]
    assert storage_of(alice) == {
        "bytes": 4500,
        "objects": 3,
        "quota_bytes": 4000,
        "over_quota": True,
        "measured_at": clock.now().isoformat().replace("+00:00", "Z"),
    }
    assert alice.metadata["ua"] == "firefox"
    assert (storage_of(bob)["bytes"], storage_of(bob)["over_quota"]) == (400, False)
    assert "storage" not in carol.metadata  # no task, no file: nothing to say
    sample = service.metrics.registry.get_sample_value
    assert sample("mediacraft_storage_total_bytes") == 4970
    assert sample("mediacraft_storage_bytes", {"area": "uploads"}) == 1900
    assert sample("mediacraft_storage_bytes", {"area": "results"}) == 3070
    assert sample("mediacraft_storage_unattributed_bytes") == 70
    assert sample("mediacraft_storage_users") == 2 and sample("mediacraft_storage_users_over_quota") == 1
    assert sample("mediacraft_storage_user_bytes", {"user_id": "alice"}) == 4500
    assert sample("mediacraft_storage_user_bytes", {"user_id": "bob"}) is None  # only the top user

    await clock.advance((DAY + HOUR).total_seconds())  # alice's results expire, bob's draft is abandoned
    await service.run_once()

    assert storage_of(await store.get_user("alice"))["bytes"] == 0
    assert storage_of(await store.get_user("bob")) == {
        "bytes": 0,
        "objects": 0,
        "quota_bytes": 4000,
        "over_quota": False,
        "measured_at": clock.now().isoformat().replace("+00:00", "Z"),
    }
    assert (await store.get(done.task_id)).status is TaskStatus.EXPIRED
    assert sample("mediacraft_storage_total_bytes") == 0  # the unattributed orphan went too
    assert (
        sample(
            "mediacraft_cleanup_removed_total",
            {"kind": "task_files", "reason": "retention_completed", "mode": "delete"},
        )
        == 1
    )
    assert sample("mediacraft_cleanup_removed_bytes_total", {"kind": "task_files", "mode": "delete"}) == 4500
    assert sample("mediacraft_cleanup_passes_total", {"outcome": "completed"}) == 2
