"""Every endpoint beyond the core flows, on the embedded adapters."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from mediacraft.identity.handlers import subscribe
from mediacraft.shared import transitions
from mediacraft.shared.tasks import TaskStatus
from tests.fixtures.media import make_clip
from tests.fixtures.waiting import eventually
from tests.integration.gateway.client import create, data, envelope, fail, finish, upload, user_id_of
from tests.integration.gateway.conftest import embedded_gateway
from tests.integration.gateway.flows import wait_inbox
from tests.integration.gateway.harness import Gateway, settled, snapshot

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(scope="module")
def gw(module_gateway: Gateway) -> Gateway:
    """Shared by the module; each test works as its own new visitor."""
    return module_gateway


async def submitted(gw: Gateway, c, clip: Path, regions: list | None = None) -> str:
    task = await create(c, "watermark_removal")
    assert (await upload(c, task["task_id"], clip)).status_code == 200
    r = await c.post(f"/api/tasks/{task['task_id']}/config", json={"regions": regions or [[5, 5, 30, 30]]})
    assert r.status_code == 202, r.text
    return task["task_id"]


async def test_generation_tasks_submit_without_files(gw: Gateway) -> None:
    async with gw.client() as c:
        task = await create(c, "image_generation")
        refused = await upload(c, task["task_id"], ("a.mp4", b"x"))
        assert refused.status_code == 409 and refused.json()["error_code"] == "upload_not_allowed"
        r = await c.post(f"/api/tasks/{task['task_id']}/config", json={"config": {"prompt": "a lighthouse"}})
        assert r.status_code == 202 and data(r)["config"]["prompt"] == "a lighthouse"
        video = await create(c, "video_generation")
        r = await c.post(f"/api/tasks/{video['task_id']}/config", json={"prompt": "waves", "duration_seconds": 4})
        assert r.status_code == 202 and data(r)["eta_seconds"] > 0


async def test_the_same_submission_twice_gives_the_first_task_back(gw: Gateway, clip: Path) -> None:
    async with gw.client() as c:
        first = await submitted(gw, c, clip)
        again = await c.post(f"/api/tasks/{first}/config", json={"regions": [[5, 5, 30, 30]]})
        assert again.status_code == 200 and data(again)["duplicate"] is True  # a double click
        second = await create(c, "watermark_removal")
        assert (await upload(c, second["task_id"], ("same.mp4", clip.read_bytes()))).status_code == 200
        dup = await c.post(f"/api/tasks/{second['task_id']}/config", json={"regions": [[5, 5, 30, 30]]})
        assert dup.status_code == 200 and data(dup)["duplicate"] is True and data(dup)["task_id"] == first
        assert await gw.store.get(second["task_id"]) is None  # the redundant draft is gone, with its file
        me = await user_id_of(c)
        assert await gw.objects_under(f"uploads/{me}/{second['task_id']}/") == []
        other = await c.post(f"/api/tasks/{first}/config", json={"regions": [[6, 6, 30, 30]]})
        assert other.status_code == 409 and other.json()["error_code"] == "invalid_state"


async def test_a_duplicate_is_a_new_job_once_the_window_has_passed(tmp_path: Path, clip: Path) -> None:
    async with embedded_gateway(tmp_path, duplicate_window_seconds=5) as gw, gw.client() as c:
        first = await submitted(gw, c, clip)
        gw.clock.shift(6)
        second = await submitted(gw, c, clip)
        assert second != first


async def test_listing_filters_pagination_and_counts(gw: Gateway, clip: Path) -> None:
    async with gw.client() as c:
        done = await submitted(gw, c, clip)
        await finish(gw, done)
        failed = await submitted(gw, c, clip, [[1, 1, 2, 2]])
        await fail(gw, failed)
        merges = [(await create(c, "video_merge"))["task_id"] for _ in range(5)]

        listing = data(await c.get("/api/user/tasks", params={"limit": 3}))
        assert [t["task_id"] for t in listing["tasks"]] == merges[::-1][:3]  # newest first
        assert listing["counts"] == {"created": 5, "completed": 1, "failed": 1}
        added = (await create(c, "video_merge"))["task_id"]  # a task added meanwhile does not shift pages
        rest = data(await c.get("/api/user/tasks", params={"limit": 3, "cursor": listing["next_cursor"]}))
        last = data(await c.get("/api/user/tasks", params={"limit": 3, "cursor": rest["next_cursor"]}))
        paged = [t["task_id"] for t in listing["tasks"] + rest["tasks"] + last["tasks"]]
        assert paged == [*merges[::-1], failed, done] and last["next_cursor"] is None and added not in paged

        by_status = data(await c.get("/api/user/tasks", params={"status": "completed,failed"}))
        assert {t["task_id"] for t in by_status["tasks"]} == {done, failed}
        by_group = data(await c.get("/api/user/tasks", params={"status": "terminal", "type": "watermark_removal"}))
        assert {t["task_id"] for t in by_group["tasks"]} == {done, failed}
        drafts = data(await c.get("/api/user/tasks", params={"status": "draft", "type": "video_merge"}))
        assert len(drafts["tasks"]) == 6

        news = data(await c.get("/api/user/tasks", params={"filter": "unnotified"}))
        assert {t["task_id"] for t in news["tasks"]} == {done, failed}
        assert (await c.post(f"/api/tasks/{done}/notified")).status_code == 200
        marked = await c.post("/api/tasks/notified", json={"task_ids": [failed, merges[0]]})
        assert data(marked)["marked"] == 2
        assert data(await c.get("/api/user/tasks", params={"filter": "unnotified"}))["tasks"] == []

        unfinished = data(await c.get("/api/tasks/unfinished"))["tasks"]
        assert {t["task_id"] for t in unfinished} == set(merges) | {added}

        bad_limit = await c.get("/api/user/tasks", params={"limit": 1000})
        assert bad_limit.status_code == 422


async def test_hide_delete_and_clear_finished(gw: Gateway, clip: Path) -> None:
    async with gw.client() as c:
        done = await submitted(gw, c, clip)
        await finish(gw, done)
        failed = await submitted(gw, c, clip, [[2, 2, 9, 9]])
        await fail(gw, failed)
        keep = (await create(c, "video_merge"))["task_id"]
        gone = (await create(c, "video_merge"))["task_id"]
        assert (await c.delete(f"/api/tasks/{gone}")).status_code == 200
        cleared = await c.post("/api/tasks/clear-finished")
        assert data(cleared)["cleared"] == 2
        visible = data(await c.get("/api/user/tasks"))
        assert [t["task_id"] for t in visible["tasks"]] == [keep]
        everything = data(await c.get("/api/user/tasks", params={"include_hidden": "true"}))
        assert len(everything["tasks"]) == 4 and all(t["hidden"] for t in everything["tasks"] if t["task_id"] != keep)
        hidden = await c.post(f"/api/tasks/{keep}/hide")
        assert data(hidden)["hidden"] is True
        assert data(await c.get(f"/api/tasks/{done}/status"))["status"] == "completed"  # hidden, not lost


async def test_cancel_drafts_here_and_submitted_tasks_through_the_scheduler(gw: Gateway, clip: Path) -> None:
    async with gw.client() as c:
        me = await user_id_of(c)
        draft = await create(c, "watermark_removal")
        assert (await upload(c, draft["task_id"], clip)).status_code == 200
        r = await c.post(f"/api/tasks/{draft['task_id']}/cancel")
        assert r.status_code == 202 and data(r)["status"] == "cancelled"
        assert await gw.objects_under(f"uploads/{me}/{draft['task_id']}/") == []

        queued = await submitted(gw, c, clip, [[3, 3, 9, 9]])
        r = await c.post(f"/api/tasks/{queued}/cancel")
        assert r.status_code == 202 and data(r)["status"] == "queued"  # the scheduler decides
        await wait_inbox(gw, "task.cancel", queued)

        await fail(gw, queued)
        again = await c.post(f"/api/tasks/{queued}/cancel")
        assert again.status_code == 409 and again.json()["error_code"] == "not_cancellable"


async def test_retry_failed_and_cancelled_tasks_only(gw: Gateway, clip: Path) -> None:
    async with gw.client() as c:
        task = await submitted(gw, c, clip, [[4, 4, 9, 9]])
        early = await c.post(f"/api/tasks/{task}/retry")
        assert early.status_code == 409 and early.json()["error_code"] == "not_retryable"
        await fail(gw, task)
        r = await c.post(f"/api/tasks/{task}/retry")
        assert r.status_code == 202
        await wait_inbox(gw, "task.retry", task)
        draft = await create(c, "video_merge")
        await c.post(f"/api/tasks/{draft['task_id']}/cancel")
        never_ran = await c.post(f"/api/tasks/{draft['task_id']}/retry")
        assert never_ran.status_code == 409


async def test_download_head_redirect_fallback_and_expiry(gw: Gateway, clip: Path) -> None:
    async with gw.client() as c:
        task = await submitted(gw, c, clip, [[5, 5, 9, 9]])
        await finish(gw, task, b"x" * 1000)
        head = await c.head(f"/api/tasks/{task}/download")
        assert head.status_code == 200 and head.headers["content-length"] == "1000" and head.content == b""
        assert head.headers["accept-ranges"] == "bytes"
        gw.ctx.settings.download_redirect = True
        try:  # a local directory has no presigned URLs: the gateway streams instead
            assert (await c.get(f"/api/tasks/{task}/download")).content == b"x" * 1000
        finally:
            gw.ctx.settings.download_redirect = False
        stored = await gw.store.get(task)
        assert stored is not None and stored.result is not None
        await gw.objects.delete(stored.result.key)
        expired = await c.get(f"/api/tasks/{task}/download")
        assert expired.status_code == 410 and expired.json()["error_code"] == "expired"


async def test_preview_refusals(gw: Gateway, clip: Path) -> None:
    async with gw.client() as c:
        task = await create(c, "watermark_removal")
        none_yet = await c.get(f"/api/tasks/{task['task_id']}/preview")
        assert none_yet.status_code == 404
        assert (await upload(c, task["task_id"], clip)).status_code == 200
        past = await c.get(f"/api/tasks/{task['task_id']}/preview", params={"frame": 10_000})
        assert past.status_code == 422
        assert (await c.get(f"/api/tasks/{task['task_id']}/preview", params={"t": -1})).status_code == 422
        end = await c.get(f"/api/tasks/{task['task_id']}/preview", params={"t": 999})
        assert end.status_code == 200 and end.content[:2] == b"\xff\xd8"  # clamped to the last frame
        assert (await c.get(f"/api/tasks/{task['task_id']}/preview", params={"input": 1})).status_code == 404


async def test_an_upload_is_written_once_and_previewed_from_the_object_itself(gw: Gateway, clip: Path) -> None:
    async with gw.client() as c:
        task = await create(c, "watermark_removal")
        assert (await upload(c, task["task_id"], clip)).status_code == 200
        stored = await gw.store.get(task["task_id"])
        assert stored is not None
        item = stored.inputs[0]
        path = await gw.objects.local_path(item.key)
        assert path is not None and path.read_bytes() == clip.read_bytes()
        assert item.content_hash == hashlib.sha256(clip.read_bytes()).hexdigest()
        assert gw.ctx.cache.lookup(item.key) is None  # no second copy in the media cache
        r = await c.get(f"/api/tasks/{task['task_id']}/preview", params={"t": 0.5})
        assert r.status_code == 200 and r.content[:2] == b"\xff\xd8"
        assert gw.ctx.cache.lookup(item.key) is None  # nor after a preview
        cancelled = await c.post(f"/api/tasks/{task['task_id']}/cancel")
        assert cancelled.status_code == 202
        assert await gw.objects.local_path(item.key) is None
        gone = await c.get(f"/api/tasks/{task['task_id']}/preview", params={"t": 0.5})
        assert gone.status_code == 410 and gone.json()["error_code"] == "expired"


async def test_with_a_remote_store_the_upload_is_teed_and_an_evicted_copy_fetched_again(
    tmp_path: Path, clip: Path
) -> None:
    async with embedded_gateway(tmp_path, local_paths=False) as tee_gw, tee_gw.client() as c:
        task = await create(c, "watermark_removal")
        uploaded = data(await upload(c, task["task_id"], clip))
        stored = await tee_gw.store.get(task["task_id"])
        assert stored is not None and uploaded["status"] == "uploaded"
        key = stored.inputs[0].key
        copy = tee_gw.ctx.cache.lookup(key)
        assert copy is not None and copy.read_bytes() == clip.read_bytes()  # the tee, adopted
        assert stored.inputs[0].content_hash == hashlib.sha256(clip.read_bytes()).hexdigest()
        tee_gw.ctx.cache.discard(key)  # another replica, or evicted
        r = await c.get(f"/api/tasks/{task['task_id']}/preview", params={"t": 0.5})
        assert r.status_code == 200 and r.content[:2] == b"\xff\xd8"
        assert tee_gw.ctx.cache.lookup(key) is not None


@pytest.fixture(scope="module")
def big_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 14 MB of uncompressed video: an upload that fills several receive buffers."""
    return make_clip(
        tmp_path_factory.mktemp("big") / "big.mkv", width=320, height=240, duration=4.0, vcodec="rawvideo", audio=False
    )


@pytest.mark.parametrize("local_paths", [True, False], ids=["single_write", "tee"])
async def test_an_upload_of_many_buffers_arrives_whole_with_its_hash(
    tmp_path: Path, big_clip: Path, local_paths: bool
) -> None:
    content = big_clip.read_bytes()
    assert len(content) > 3 * 4 * 1024 * 1024
    async with (
        embedded_gateway(tmp_path, local_paths=local_paths, max_upload_bytes=32 * 1024 * 1024) as g,
        g.client() as c,
    ):
        task = await create(c, "watermark_removal")
        r = await upload(c, task["task_id"], big_clip)
        assert r.status_code == 200, r.text
        stored = await g.store.get(task["task_id"])
        assert stored is not None
        item = stored.inputs[0]
        assert item.size == len(content) and item.content_hash == hashlib.sha256(content).hexdigest()
        assert b"".join([chunk async for chunk in g.objects.open_read(item.key)]) == content
        local_copy = g.ctx.cache.lookup(item.key)
        assert (local_copy is None) == local_paths
        assert local_copy is None or local_copy.read_bytes() == content
        preview = await c.get(f"/api/tasks/{task['task_id']}/preview", params={"t": 3.0})
        assert preview.status_code == 200 and preview.content[:2] == b"\xff\xd8"


async def test_too_many_files(tmp_path: Path, clip: Path) -> None:
    async with embedded_gateway(tmp_path, merge_max_inputs=2) as gw, gw.client() as c:
        merge = await create(c, "video_merge")
        assert (await upload(c, merge["task_id"], clip, clip)).status_code == 200
        before = await snapshot(gw)
        third = await upload(c, merge["task_id"], clip)
        assert third.status_code == 409 and third.json()["error_code"] == "too_many_files"
        wm = await create(c, "watermark_removal")
        before = await snapshot(gw)
        two = await upload(c, wm["task_id"], clip, clip)
        assert two.status_code == 409 and two.json()["error_code"] == "too_many_files"
        await settled(gw)
        assert await snapshot(gw) == before


async def test_a_failed_one_call_submit_leaves_nothing(gw: Gateway, clip: Path) -> None:
    async with gw.client() as c:
        await user_id_of(c)
        before = await snapshot(gw)
        r = await c.post(
            "/api/tasks/submit",
            data={"task_type": "watermark_removal", "config": json.dumps({"regions": [[900, 900, 5, 5]]})},
            files={"file": ("a.mp4", clip.read_bytes(), "video/mp4")},
        )
        assert r.status_code == 422 and r.json()["error_code"] == "invalid_regions"
        bad_json = await c.post(
            "/api/tasks/submit",
            data={"task_type": "watermark_removal", "config": "{nope"},
            files={"file": ("a.mp4", clip.read_bytes(), "video/mp4")},
        )
        assert bad_json.status_code == 422 and bad_json.json()["error_code"] == "invalid_config"
        no_file = await c.post("/api/tasks/submit", json={"task_type": "watermark_removal"})
        assert no_file.status_code == 422 and no_file.json()["error_code"] == "missing_file"
        await settled(gw)
        assert await snapshot(gw) == before


async def test_a_one_call_merge_submit_with_files_in_order(gw: Gateway, clip: Path, clip_b: Path) -> None:
    async with gw.client() as c:
        files = [
            ("file", ("b.mp4", clip_b.read_bytes(), "video/mp4")),
            ("file", ("a.mp4", clip.read_bytes(), "video/mp4")),
        ]
        r = await c.post("/api/tasks/submit", data={"task_type": "video_merge"}, files=files)
        assert r.status_code == 202, r.text
        assert [i["original_name"] for i in data(r)["inputs"]] == ["b.mp4", "a.mp4"]
        assert data(r)["status"] == "queued"


async def test_user_info_has_statistics_and_limits(gw: Gateway, clip: Path) -> None:
    async with gw.client() as c:
        await submitted(gw, c, clip, [[7, 7, 9, 9]])
        await create(c, "video_merge")
        info = data(await c.get("/api/user/info"))
        assert info["stats"]["by_status"] == {"queued": 1, "created": 1}
        assert info["stats"]["active"] == 1 and info["stats"]["drafts"] == 1
        assert info["limits"]["max_upload_bytes"] == gw.ctx.max_upload_bytes
        assert "metadata" in info and info["created_at"]


async def test_operations_endpoints(gw: Gateway) -> None:
    async with gw.client() as c:
        assert data(await c.get("/healthz"))["status"] == "alive"
        ready = await c.get("/readyz")
        assert ready.status_code == 200 and data(ready)["checks"] == {
            "store": True,
            "objects": True,
            "bus": True,
            "identity": True,
            "events": True,
        }
        metrics = await c.get("/metrics")  # on the metrics port, not here
        assert metrics.status_code == 404 and metrics.json()["error_code"] == "not_found"
        assert "set-cookie" not in metrics.headers  # only /api mints identities
        docs = await c.get("/docs")
        assert docs.status_code == 200 and "swagger" in docs.text.lower()
        spec = (await c.get("/openapi.json")).json()
        for path in (
            "/api/user/info",
            "/api/user/tasks",
            "/api/tasks/create",
            "/api/tasks/{task_id}/upload",
            "/api/tasks/{task_id}/config",
            "/api/tasks/{task_id}/status",
            "/api/tasks/{task_id}/download",
            "/api/tasks/submit",
            "/api/events",
            "/api/tasks/{task_id}/preview",
        ):
            assert path in spec["paths"], path
        r = await c.get("/api/user/info", headers={"X-Request-ID": "trace-123"})
        assert r.headers["x-request-id"] == "trace-123" and r.json()["meta"]["request_id"] == "trace-123"
        r = await c.get("/api/user/info", headers={"X-Request-ID": "bad id\twith tab"})
        assert r.headers["x-request-id"] != "bad id\twith tab"
        missing = await c.get("/api/nothing-here")
        assert missing.status_code == 404 and missing.json()["error_code"] == "not_found"


async def test_readiness_fails_when_an_adapter_is_down(tmp_path: Path) -> None:
    async with embedded_gateway(tmp_path) as gw, gw.client() as c:
        await gw.store.close()
        r = await c.get("/readyz")
        assert r.status_code == 503 and data(r)["checks"]["store"] is False
        await gw.store.start()


# --- identity over time -------------------------------------------------------------------------------


@pytest_asyncio.fixture(loop_scope="module")
async def fresh(tmp_path: Path) -> AsyncIterator[Gateway]:
    async with embedded_gateway(tmp_path, max_waiting_per_user=2) as gw:
        yield gw


async def test_cookies_renew_while_used_and_expire_after_thirty_days(fresh: Gateway) -> None:
    async with fresh.client() as c:
        me = await user_id_of(c)
        quiet = await c.get("/api/user/info")
        assert "set-cookie" not in quiet.headers  # issued moments ago: nothing to renew
        fresh.clock.shift(2 * 3600)
        renewed = await c.get("/api/user/info")
        assert renewed.headers["set-cookie"].startswith(f"mc_uid={me}.")
        fresh.clock.shift(29 * 86400)  # 29 days after the renewal: still valid
        assert await user_id_of(c) == me
        fresh.clock.shift(31 * 86400)  # unused for 31 days
        assert await user_id_of(c) != me


async def test_last_seen_reaches_identity_at_most_once_a_minute(fresh: Gateway) -> None:
    sub = await subscribe(fresh.bus, fresh.identity)  # what a composition root wires beside the gateway
    try:
        async with fresh.client() as c:
            me = await user_id_of(c)
            created = await fresh.store.get_user(me)
            assert created is not None
            fresh.clock.shift(120)
            for _ in range(5):
                await c.get("/api/user/tasks")
            await settled(fresh)

            async def seen() -> bool:
                user = await fresh.store.get_user(me)
                return user is not None and user.last_accessed > created.last_accessed

            await eventually(seen, timeout=5, interval=0.01, what="the event seen")
            assert fresh.identity.seen_writes == 1
    finally:
        await sub.cancel()


async def test_tls_cookies_are_secure_with_the_host_prefix(tmp_path: Path) -> None:
    async with embedded_gateway(tmp_path, cookie_secure=True) as gw, gw.client() as c:
        header = (await c.get("/api/user/info")).headers["set-cookie"]
        assert header.startswith("__Host-mc_uid=") and "; Secure" in header and "HttpOnly" in header


async def test_the_waiting_cap_answers_429_with_the_reason(fresh: Gateway) -> None:
    async with fresh.client() as c:
        for n in range(2):
            task = await create(c, "image_generation")
            assert (await c.post(f"/api/tasks/{task['task_id']}/config", json={"prompt": f"p{n}"})).status_code == 202
        third = await create(c, "image_generation")
        r = await c.post(f"/api/tasks/{third['task_id']}/config", json={"prompt": "p2"})
        assert r.status_code == 429 and r.json()["error_code"] == "too_many_waiting"
        assert "The system is busy; your task is queued" in r.json()["message"] and r.headers["retry-after"]
        assert (await fresh.store.get(third["task_id"])).status is TaskStatus.CREATED
        running = await fresh.store.list_for_user(await user_id_of(c), statuses=[TaskStatus.QUEUED])
        first = running.items[-1]
        await fresh.store.transition(
            first.task_id, transitions.DISPATCH, expected_version=first.version, changes={"attempts": 1}
        )
        r = await c.post(f"/api/tasks/{third['task_id']}/config", json={"prompt": "p2"})
        assert r.status_code == 202  # one left waiting: room for one more
        fourth = await create(c, "image_generation")
        r = await c.post(f"/api/tasks/{fourth['task_id']}/config", json={"prompt": "p3"})
        assert r.status_code == 429 and "Waiting for your current task to finish" in r.json()["message"]


async def test_shutting_the_event_hub_down_ends_open_streams(tmp_path: Path) -> None:
    from tests.integration.gateway.client import SseReader

    async with embedded_gateway(tmp_path) as gw, gw.client() as c:
        await user_id_of(c)
        async with c.stream("GET", "/api/events") as stream:
            events = SseReader(stream)
            assert (await events.next())["event"] == "ready"
            await gw.ctx.hub.close()
            try:
                await events.next(timeout=5)
                raise AssertionError("the stream went on after shutdown")
            except EOFError:
                pass
        assert gw.ctx.hub.subscriber_count() == 0


async def test_clear_finished_hides_only_what_the_list_showed(gw: Gateway, clip: Path) -> None:
    async with gw.client() as c:
        done = await submitted(gw, c, clip)
        await finish(gw, done)
        seen_at = gw.clock.now()
        gw.clock.shift(seconds=5)
        later = await submitted(gw, c, clip, [[2, 2, 9, 9]])
        await fail(gw, later)  # finished after the person looked: not theirs to clear yet
        r = await c.post("/api/tasks/clear-finished", json={"finished_before": seen_at.isoformat()})
        assert data(r) == {"cleared": 1, "task_ids": [done]}
        shown = {t["task_id"] for t in data(await c.get("/api/user/tasks"))["tasks"]}
        assert done not in shown and later in shown
        r = await c.post("/api/tasks/clear-finished", json={"finished_before": "not a time"})
        assert r.status_code == 422 and envelope(r)["error_code"] == "validation_error"
        assert data(await c.post("/api/tasks/clear-finished"))["cleared"] == 1  # no body: every finished task


async def test_hidden_tasks_can_be_shown_again(gw: Gateway, clip: Path) -> None:
    async with gw.client() as c, gw.client() as other:
        done = await submitted(gw, c, clip)
        await finish(gw, done)
        assert data(await c.post("/api/tasks/clear-finished"))["cleared"] == 1
        assert data(await c.get("/api/user/tasks"))["tasks"] == []
        # someone else's request cannot touch it
        assert data(await other.post("/api/tasks/unhide", json={"task_ids": [done]}))["shown"] == 0
        assert data(await c.post("/api/tasks/unhide", json={"task_ids": [done]}))["shown"] == 1
        shown = data(await c.get("/api/user/tasks"))["tasks"]
        assert [(t["task_id"], t["hidden"], t["status"]) for t in shown] == [(done, False, "completed")]
        bad = await c.post("/api/tasks/unhide", json={"task_ids": ["not-a-task"]})
        assert bad.status_code == 422 and envelope(bad)["error_code"] == "invalid_task_id"
