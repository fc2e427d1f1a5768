"""The core API flows, run against the embedded adapters and against RabbitMQ + S3 + Mongo."""

from __future__ import annotations

import json
from pathlib import Path

from mediacraft.shared.messages import Envelope, TaskProgressed
from mediacraft.shared.topology import EVENTS
from tests.fixtures.waiting import eventually
from tests.integration.gateway.client import SseReader, create, data, finish, upload, user_id_of
from tests.integration.gateway.harness import Gateway, settled, snapshot


async def watermark_round_trip(gw: Gateway, clip: Path) -> None:
    """Create, see it listed at once, upload, preview, submit, follow status, download the result."""
    async with gw.client() as c:
        first = await c.get("/api/user/info")
        assert first.status_code == 200
        cookie = first.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
        me = data(first)["user_id"]

        task = await create(c, "watermark_removal")
        assert task["status"] == "created" and task["user_id"] == me
        listed = data(await c.get("/api/user/tasks"))
        assert [t["task_id"] for t in listed["tasks"]] == [task["task_id"]]
        assert listed["counts"] == {"created": 1}

        r = await upload(c, task["task_id"], clip)
        assert r.status_code == 200, r.text
        uploaded = data(r)
        assert uploaded["status"] == "uploaded" and uploaded["original_filename"] == clip.name
        media = uploaded["inputs"][0]["media"]
        assert (media["width"], media["height"], media["format_name"]) == (640, 360, "mp4")
        assert media["duration"] > 1.5 and media["frame_count"] >= 55
        keys = await gw.objects_under(f"uploads/{me}/{task['task_id']}/")
        assert len(keys) == 1 and clip.name not in keys[0]  # storage keys are generated

        by_time = await c.get(f"/api/tasks/{task['task_id']}/preview", params={"t": 1.0})
        assert by_time.status_code == 200 and by_time.headers["content-type"] == "image/jpeg"
        assert by_time.content[:3] == b"\xff\xd8\xff" and by_time.headers["x-frame-width"] == "640"
        by_frame = await c.get(f"/api/tasks/{task['task_id']}/preview", params={"frame": 30})
        assert by_frame.status_code == 200 and by_frame.headers["x-frame-time"] == "1.000"

        r = await c.post(
            f"/api/tasks/{task['task_id']}/config",
            json={"regions": [[500, 20, 120, 60]], "selected_frame": 30, "method": "delogo"},
        )
        assert r.status_code == 202, r.text
        queued = data(r)
        assert queued["status"] == "queued" and queued["duplicate"] is False
        assert queued["config"] == {"regions": [[500, 20, 120, 60]], "method": "delogo", "selected_frame": 30}
        # the retry budget is the scheduler's: it writes it when it dispatches the first attempt
        assert queued["eta_seconds"] and queued["max_retries"] is None
        await wait_inbox(gw, "task.submit", task["task_id"])
        submit = next(m for m in gw.inbox.messages if m.type == "task.submit")
        assert submit.correlation_id == task["task_id"]
        assert submit.payload["version"] == queued["version"] and submit.payload["task_type"] == "watermark_removal"

        status = data(await c.get(f"/api/tasks/{task['task_id']}/status"))
        for field in (
            "status",
            "progress",
            "stage",
            "subtasks",
            "message",
            "eta_seconds",
            "queue_position",
            "attempts",
            "retry_count",
            "next_retry_at",
            "error",
        ):
            assert field in status
        assert "fingerprint" not in status and "lease_expires_at" not in status

        not_yet = await c.get(f"/api/tasks/{task['task_id']}/download")
        assert not_yet.status_code == 409 and not_yet.json()["error_code"] == "not_ready"
        payload = bytes(range(256)) * 400
        await finish(gw, task["task_id"], payload)
        done = data(await c.get(f"/api/tasks/{task['task_id']}/status"))
        assert done["status"] == "completed" and done["download_url"].endswith("/download")

        full = await c.get(f"/api/tasks/{task['task_id']}/download")
        assert full.status_code == 200 and full.content == payload
        assert full.headers["content-disposition"].startswith('attachment; filename="clip_clean.mp4"')
        part = await c.get(f"/api/tasks/{task['task_id']}/download", headers={"Range": "bytes=100-199"})
        assert part.status_code == 206 and part.content == payload[100:200]
        assert part.headers["content-range"] == f"bytes 100-199/{len(payload)}"
        tail = await c.get(f"/api/tasks/{task['task_id']}/download", headers={"Range": "bytes=-10"})
        assert tail.status_code == 206 and tail.content == payload[-10:]
        bad = await c.get(f"/api/tasks/{task['task_id']}/download", headers={"Range": f"bytes={len(payload)}-"})
        assert bad.status_code == 416 and bad.headers["content-range"] == f"bytes */{len(payload)}"


async def merge_in_order(gw: Gateway, clip: Path, clip_b: Path) -> None:
    """Several files by repeating the field and by repeated calls, kept in order."""
    async with gw.client() as c:
        task = await create(c, "video_merge")
        r = await upload(c, task["task_id"], ("one.mp4", clip.read_bytes()), ("two.mp4", clip_b.read_bytes()))
        assert r.status_code == 200, r.text
        r = await upload(c, task["task_id"], ("three.mp4", clip.read_bytes()))
        assert r.status_code == 200, r.text
        inputs = data(r)["inputs"]
        assert [i["original_name"] for i in inputs] == ["one.mp4", "two.mp4", "three.mp4"]
        assert [i["media"]["width"] for i in inputs] == [640, 320, 640]
        r = await c.post(f"/api/tasks/{task['task_id']}/config", json={"order": [2, 0, 1]})
        assert r.status_code == 202 and data(r)["config"] == {"order": [2, 0, 1]}


async def returning_visitor_and_strangers(gw: Gateway, clip: Path) -> None:
    """The same cookie later sees every task in its current state; another visitor sees nothing."""
    async with gw.client() as c:
        me = await user_id_of(c)
        task = await create(c, "watermark_removal")
        assert (await upload(c, task["task_id"], clip)).status_code == 200
        jar = dict(c.cookies)
    async with gw.client(cookies=jar) as back:
        assert await user_id_of(back) == me
        listed = data(await back.get("/api/user/tasks"))["tasks"]
        assert [(t["task_id"], t["status"]) for t in listed] == [(task["task_id"], "uploaded")]
    async with gw.client() as stranger:
        assert await user_id_of(stranger) != me
        assert data(await stranger.get("/api/user/tasks"))["tasks"] == []
        missing = await stranger.get("/api/tasks/00000000-0000-4000-8000-000000000000/status")
        for path in ("status", "download", "preview"):
            r = await stranger.get(f"/api/tasks/{task['task_id']}/{path}")
            assert r.status_code == 404 and r.json()["error_code"] == missing.json()["error_code"]
            assert r.json()["message"] == missing.json()["message"]


async def one_call_submit_duplicates_and_keys(gw: Gateway, clip: Path) -> None:
    """One-call submit; the same submission within the window returns the first task; keys replay."""
    config = json.dumps({"regions": [[10, 10, 50, 50]]})

    def form(name: str = "a.mp4") -> dict:
        return {
            "data": {"task_type": "watermark_removal", "config": config},
            "files": {"file": (name, clip.read_bytes(), "video/mp4")},
        }

    async with gw.client() as c:
        first = await c.post("/api/tasks/submit", **form())
        assert first.status_code == 202, first.text
        task_id = data(first)["task_id"]
        again = await c.post("/api/tasks/submit", **form("renamed.mp4"))
        assert again.status_code == 200 and data(again)["duplicate"] is True
        assert data(again)["task_id"] == task_id
        await settled(gw)
        assert len(await gw.all_tasks()) == 1
        assert len(await gw.objects_under("uploads/")) == 1

        keyed = await c.post(
            "/api/tasks/submit",
            headers={"Idempotency-Key": "k-1"},
            data={"task_type": "image_generation", "config": json.dumps({"prompt": "a cat"})},
        )
        assert keyed.status_code == 202
        replay = await c.post(
            "/api/tasks/submit",
            headers={"Idempotency-Key": "k-1"},
            data={"task_type": "image_generation", "config": json.dumps({"prompt": "a cat"})},
        )
        assert replay.status_code == 202 and replay.headers["idempotent-replayed"] == "true"
        assert data(replay)["task_id"] == data(keyed)["task_id"]
        assert len(await gw.all_tasks()) == 2
        await wait_inbox(gw, "task.submit", data(keyed)["task_id"])
        submitted = [m.payload["task_id"] for m in gw.inbox.messages if m.type == "task.submit"]
        assert sorted(submitted) == sorted([task_id, data(keyed)["task_id"]])  # one job each, never two


async def live_events_and_resume(gw: Gateway, clip: Path) -> None:
    """The SSE stream shows the user's changes live, not others'; Last-Event-ID replays what changed."""
    async with gw.client() as c, gw.client() as other:
        me, them = await user_id_of(c), await user_id_of(other)
        async with c.stream("GET", "/api/events") as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            events = SseReader(stream)
            ready = await events.next()
            assert ready["event"] == "ready"
            await create(other, "video_merge")  # must not reach me
            task = await create(c, "watermark_removal")
            created = await events.next()
            assert created["event"] == "status" and created["data"]["task_id"] == task["task_id"]
            assert created["data"]["status"] == "created" and created["data"]["task"]["user_id"] == me
            await gw.bus.publish(
                EVENTS,
                TaskProgressed.TYPE,
                Envelope.wrap(
                    TaskProgressed(task_id=task["task_id"], user_id=me, progress=42.5, stage="process", version=0)
                ),
            )
            progress = await events.until(lambda e: e["event"] == "progress")
            assert progress["data"]["progress"] == 42.5
            last_id = progress["id"]
        assert them != me
        await wait_for_no_subscribers(gw, me)

        assert (await upload(c, task["task_id"], clip)).status_code == 200  # while disconnected
        async with c.stream("GET", "/api/events", headers={"Last-Event-ID": last_id}) as stream:
            events = SseReader(stream)
            replayed = await events.next()
            assert replayed["event"] == "status" and replayed["data"]["status"] == "uploaded"
            assert (await events.next())["event"] == "ready"


async def refused_uploads_leave_nothing(gw: Gateway, clip: Path) -> None:
    """A refused file (HTML named .mp4) and one over the limit leave no object, upload or local file."""
    async with gw.client() as c:
        task = await create(c, "watermark_removal")
        before = await snapshot(gw)
        html = await upload(c, task["task_id"], ("movie.mp4", b"<!DOCTYPE html><html><body>hi</body></html>"))
        assert html.status_code == 415 and html.json()["error_code"] == "unsupported_format"
        await settled(gw)
        assert await snapshot(gw) == before

        limit = gw.ctx.settings.max_upload_bytes
        head = clip.read_bytes()

        async def chunked():  # no Content-Length: the limit must hold while streaming
            yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="big.mp4"\r\n\r\n'
            yield head
            sent = len(head)
            while sent <= limit:
                yield b"\0" * (1024 * 1024)
                sent += 1024 * 1024
            yield b"\r\n--b--\r\n"

        big = await c.post(
            f"/api/tasks/{task['task_id']}/upload",
            content=chunked(),
            headers={"content-type": "multipart/form-data; boundary=b"},
        )
        assert big.status_code == 413 and big.json()["error_code"] == "file_too_large"
        await settled(gw)
        assert await snapshot(gw) == before


async def wait_inbox(gw: Gateway, type_: str, task_id: str, timeout: float = 5.0) -> None:
    """Wait until the scheduler inbox got `type_` about `task_id`."""
    await eventually(
        lambda: any(m.type == type_ and m.payload.get("task_id") == task_id for m in gw.inbox.messages),
        timeout=timeout,
        interval=0.01,
        what=f"{type_} for {task_id} in scheduler.inbox",
    )


async def wait_for_no_subscribers(gw: Gateway, user_id: str, timeout: float = 5.0) -> None:
    await eventually(
        lambda: not gw.ctx.hub.subscriber_count(user_id),
        timeout=timeout,
        interval=0.01,
        what="a closed stream to drop its subscriber",
    )
