"""The optional per-user storage quota: an upload that does not fit answers 413 and leaves nothing."""

from __future__ import annotations

from pathlib import Path

from tests.integration.gateway.client import create, data, upload, user_id_of
from tests.integration.gateway.conftest import embedded_gateway
from tests.integration.gateway.harness import settled, snapshot

QUOTA = 1_000_000


async def _use(gw, user_id: str, used: int) -> None:
    """Record usage as the cleanup service's pass does (user metadata `storage`)."""
    await gw.store.set_user_metadata(user_id, "storage", {"bytes": used, "objects": 1})


async def test_upload_over_the_remaining_quota_is_refused_and_leaves_nothing(tmp_path: Path, clip: Path) -> None:
    async with embedded_gateway(tmp_path, user_storage_quota_bytes=QUOTA) as gw:
        async with gw.client() as c:
            task = await create(c, "watermark_removal")
            await _use(gw, await user_id_of(c), QUOTA - 1000)
            await settled(gw)
            before = await snapshot(gw)
            r = await upload(c, task["task_id"], clip)  # 214 kB where 1 kB is left
            assert r.status_code == 413
            assert r.json()["error_code"] == "storage_quota_exceeded"
            await settled(gw)
            assert await snapshot(gw) == before


async def test_a_full_storage_refuses_at_once_and_a_file_that_fits_is_accepted(tmp_path: Path, clip: Path) -> None:
    async with embedded_gateway(tmp_path, user_storage_quota_bytes=QUOTA) as gw:
        async with gw.client() as c:
            task = await create(c, "watermark_removal")
            uid = await user_id_of(c)
            await _use(gw, uid, QUOTA)
            r = await upload(c, task["task_id"], clip)
            assert (r.status_code, r.json()["error_code"]) == (413, "storage_quota_exceeded")
            assert await gw.objects_under("uploads/") == []

            await _use(gw, uid, 0)
            assert clip.stat().st_size < QUOTA
            r = await upload(c, task["task_id"], clip)
            assert r.status_code == 200, r.text
            assert data(r)["inputs"][0]["size"] == clip.stat().st_size
