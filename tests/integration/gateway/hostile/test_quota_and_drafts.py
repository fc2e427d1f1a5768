"""What one visitor may hold is bounded by default: open drafts are capped and stored bytes are
counted at upload time; a refusal creates nothing and leaves no object behind."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from tests.integration.gateway.client import create, data, upload, user_id_of
from tests.integration.gateway.conftest import embedded_gateway
from tests.integration.gateway.harness import settled, snapshot
from tests.integration.gateway.hostile.defaults import default_limits

DEFAULT_DRAFT_CAP = default_limits()["max_open_drafts_per_user"]


async def test_the_defaults_bound_drafts_and_storage() -> None:
    limits = default_limits()
    assert limits["max_open_drafts_per_user"] == 20
    assert limits["user_storage_quota_bytes"] == 10 * 1024**3


async def test_a_draft_flood_stops_at_the_default_cap_and_creates_nothing_more(tmp_path: Path, clip: Path) -> None:
    async with embedded_gateway(tmp_path, **default_limits()) as gw:
        async with gw.client() as c:
            me = await user_id_of(c)
            codes = []
            for i in range(DEFAULT_DRAFT_CAP + 15):
                kind = "video_merge" if i % 2 else "watermark_removal"
                r = await c.post("/api/tasks/create", json={"task_type": kind})
                codes.append(r.status_code)
                if r.status_code != 201:
                    body = r.json()
                    assert (r.status_code, body["error_code"]) == (429, "too_many_drafts"), r.text
                    assert body["data"] == {"open_drafts": DEFAULT_DRAFT_CAP, "max_open_drafts": DEFAULT_DRAFT_CAP}
            assert codes == [201] * DEFAULT_DRAFT_CAP + [429] * 15
            await settled(gw)
            tasks = await gw.all_tasks()
            assert len(tasks) == DEFAULT_DRAFT_CAP and {t.user_id for t in tasks} == {me}
            assert (
                gw.metric("mediacraft_gateway_tasks_created_total", task_type="video_merge")
                + gw.metric("mediacraft_gateway_tasks_created_total", task_type="watermark_removal")
                == DEFAULT_DRAFT_CAP
            )

            # at the cap, a one-call submit with a file is refused before the file is read
            before = await snapshot(gw)
            r = await c.post(
                "/api/tasks/submit",
                data={"task_type": "watermark_removal", "config": json.dumps({"regions": [[1, 1, 9, 9]]})},
                files={"file": ("a.mp4", clip.read_bytes(), "video/mp4")},
            )
            assert (r.status_code, r.json()["error_code"]) == (429, "too_many_drafts")
            await settled(gw)
            assert await snapshot(gw) == before
            assert await gw.objects_under("uploads/") == []

            # another visitor is not held back by this one's drafts
            async with gw.client() as other:
                await create(other, "video_merge")

            # submitting a draft frees its place: the next create is accepted
            generation = await c.post("/api/tasks/create", json={"task_type": "image_generation"})
            assert generation.status_code == 429
            first = tasks[0]
            if first.task_type.value == "watermark_removal":
                assert (await upload(c, first.task_id, clip)).status_code == 200
                r = await c.post(f"/api/tasks/{first.task_id}/config", json={"regions": [[1, 1, 9, 9]]})
            else:
                r = await c.post(f"/api/tasks/{first.task_id}/cancel")
            assert r.status_code == 202, r.text
            assert (await c.post("/api/tasks/create", json={"task_type": "image_generation"})).status_code == 201


async def test_concurrent_creates_do_not_pass_the_cap(tmp_path: Path) -> None:
    async with embedded_gateway(tmp_path, **default_limits()) as gw:
        async with gw.client() as c:
            await user_id_of(c)
            answers = await asyncio.gather(
                *(c.post("/api/tasks/create", json={"task_type": "video_merge"}) for _ in range(DEFAULT_DRAFT_CAP + 10))
            )
            codes = sorted(r.status_code for r in answers)
            assert codes == [201] * DEFAULT_DRAFT_CAP + [429] * 10
            assert len(await gw.all_tasks()) == DEFAULT_DRAFT_CAP


async def test_an_upload_over_the_quota_is_refused_at_upload_time_and_leaves_nothing(
    tmp_path: Path, clip: Path
) -> None:
    size = clip.stat().st_size
    quota = 2 * size + size // 2  # two clips fit, a third does not
    async with embedded_gateway(tmp_path, **default_limits(user_storage_quota_bytes=quota)) as gw:
        async with gw.client() as c:
            me = await user_id_of(c)
            drafts = [await create(c, "watermark_removal") for _ in range(3)]
            for draft in drafts[:2]:
                assert (await upload(c, draft["task_id"], clip)).status_code == 200
            # cleanup has measured nothing yet: what counts is what is stored now, drafts included
            assert "storage" not in (await gw.store.get_user(me)).metadata
            await settled(gw)
            before = await snapshot(gw)
            r = await upload(c, drafts[2]["task_id"], clip)
            assert (r.status_code, r.json()["error_code"]) == (413, "storage_quota_exceeded")
            await settled(gw)
            assert await snapshot(gw) == before
            assert len(await gw.objects_under(f"uploads/{me}/")) == 2
            assert (await gw.store.get(drafts[2]["task_id"])).status.value == "created"

            # the one-call submit is refused the same way, its draft and file removed
            r = await c.post(
                "/api/tasks/submit",
                data={"task_type": "watermark_removal", "config": json.dumps({"regions": [[1, 1, 9, 9]]})},
                files={"file": ("a.mp4", clip.read_bytes(), "video/mp4")},
            )
            assert (r.status_code, r.json()["error_code"]) == (413, "storage_quota_exceeded")
            await settled(gw)
            assert await snapshot(gw) == before

            # removing a draft's file frees its room (a hidden draft's files go with cleanup)
            await gw.objects.delete_prefix(f"uploads/{me}/{drafts[0]['task_id']}/")
            assert (await upload(c, drafts[2]["task_id"], clip)).status_code == 200


async def test_uploads_running_at_once_cannot_together_pass_the_quota(tmp_path: Path, clip: Path) -> None:
    size = clip.stat().st_size
    quota = size + size // 2  # room for one clip, not two
    async with embedded_gateway(tmp_path, **default_limits(user_storage_quota_bytes=quota)) as gw:
        async with gw.client() as c:
            me = await user_id_of(c)
            drafts = [await create(c, "watermark_removal") for _ in range(4)]
            answers = await asyncio.gather(*(upload(c, d["task_id"], clip) for d in drafts))
            accepted = [r for r in answers if r.status_code == 200]
            for r in answers:
                if r.status_code != 200:
                    assert (r.status_code, r.json()["error_code"]) == (413, "storage_quota_exceeded"), r.text
            await settled(gw)
            stored = [o async for o in gw.objects.list(f"uploads/{me}/")]
            assert len(stored) == len(accepted) <= 1
            assert sum(o.size for o in stored) <= quota
            inputs = [t for t in await gw.all_tasks() if t.inputs]
            assert len(inputs) == len(accepted)
            assert gw.metric("mediacraft_gateway_upload_bytes_total") == size * len(accepted)


async def test_cleanups_measurement_counts_as_well(tmp_path: Path, clip: Path) -> None:
    """Results are not under the upload folder: cleanup's last figure (which has them) counts too."""
    quota = 10 * clip.stat().st_size
    async with embedded_gateway(tmp_path, **default_limits(user_storage_quota_bytes=quota)) as gw:
        async with gw.client() as c:
            me = await user_id_of(c)
            draft = await create(c, "watermark_removal")
            await gw.store.set_user_metadata(me, "storage", {"bytes": quota - 100, "objects": 3})
            r = await upload(c, draft["task_id"], clip)
            assert (r.status_code, r.json()["error_code"]) == (413, "storage_quota_exceeded")
            assert await gw.objects_under("uploads/") == []
            assert data(await c.get("/api/user/info"))["metadata"]["storage"]["bytes"] == quota - 100
