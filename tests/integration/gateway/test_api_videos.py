"""The video library API (/api/v1/videos) on the embedded adapters: list, one video, run_sync,
its progress with subtasks, the files, owner checks and bad input. The scheduler and the worker
are played by the test (the end-to-end flow runs them for real: tests/e2e/flows/test_videos.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from mediacraft.shared import transitions
from mediacraft.shared.tasks import ResultFile, ResultOutput, SubTask, SubTaskStatus, TaskStatus, TaskType
from tests.integration.gateway.client import create, data, upload
from tests.integration.gateway.flows import wait_inbox
from tests.integration.gateway.harness import Gateway, settled, snapshot

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(scope="module")
def gw(module_gateway: Gateway) -> Gateway:
    """Shared by the module; each test works as its own new visitor."""
    return module_gateway


async def uploaded_video(c: httpx.AsyncClient, clip: Path) -> dict[str, Any]:
    """Upload `clip` to a new watermark draft: the video it makes, as the list shows it."""
    task = await create(c, "watermark_removal")
    assert (await upload(c, task["task_id"], clip)).status_code == 200
    listed = data(await c.get("/api/v1/videos"))["videos"]
    mine = [v for v in listed if v["source_task_id"] == task["task_id"]]
    assert len(mine) == 1
    return mine[0]


async def put_bytes(gw: Gateway, key: str, payload: bytes, content_type: str) -> int:
    async def body() -> AsyncIterator[bytes]:
        yield payload

    return (await gw.objects.put_stream(key, body(), content_type=content_type)).size


async def play_the_worker(gw: Gateway, task_id: str) -> None:
    """Dispatch the queued reprocess, report its stages half way, then complete it with three files."""
    task = await gw.store.get(task_id)
    assert task is not None and task.status is TaskStatus.QUEUED
    running = await gw.store.transition(
        task_id,
        transitions.DISPATCH,
        expected_version=task.version,
        changes={"attempts": 1, "started_at": gw.clock.now()},
    )
    stages = [
        SubTask(name="download", status=SubTaskStatus.COMPLETED, progress=100),
        SubTask(name="probe", status=SubTaskStatus.COMPLETED, progress=100, message="640x360, 2.0 s"),
        SubTask(name="rendition", status=SubTaskStatus.RUNNING, progress=40, message="encoding"),
        SubTask(name="poster"),
        SubTask(name="storyboard"),
        SubTask(name="upload"),
    ]
    assert await gw.store.update_progress(task_id, attempt=1, progress=42.0, stage="rendition", subtasks=stages)
    prefix = f"results/{task_id}/1"
    sizes = {
        name: await put_bytes(gw, f"{prefix}/{name}", payload, kind)
        for name, payload, kind in (
            ("rendition.mp4", b"MP4" * 100, "video/mp4"),
            ("poster.jpg", b"\xff\xd8POSTER", "image/jpeg"),
            ("storyboard.jpg", b"\xff\xd8BOARD", "image/jpeg"),
        )
    }
    result = ResultFile(
        key=f"{prefix}/rendition.mp4",
        size=sizes["rendition.mp4"],
        content_type="video/mp4",
        filename="rendition.mp4",
        outputs=[
            ResultOutput(
                role="poster",
                key=f"{prefix}/poster.jpg",
                size=sizes["poster.jpg"],
                content_type="image/jpeg",
                filename="poster.jpg",
            ),
            ResultOutput(
                role="storyboard",
                key=f"{prefix}/storyboard.jpg",
                size=sizes["storyboard.jpg"],
                content_type="image/jpeg",
                filename="storyboard.jpg",
                info={"count": 2, "columns": 2, "rows": 1, "tile_width": 160, "tile_height": 90, "interval": 1.0},
            ),
        ],
    )
    done = [s.model_copy(update={"status": SubTaskStatus.COMPLETED, "progress": 100.0}) for s in stages]
    await gw.store.transition(
        task_id,
        transitions.COMPLETE,
        expected_version=running.version,
        changes={"progress": 100.0, "subtasks": done, "completed_at": gw.clock.now(), "result": result},
    )


async def test_an_uploaded_video_is_listed_and_read_with_its_fields(gw: Gateway, clip: Path) -> None:
    async with gw.client() as c:
        video = await uploaded_video(c, clip)
        assert video["name"] == clip.name and video["source"] == "upload"
        assert video["source_task_type"] == "watermark_removal"
        assert video["duration"] == pytest.approx(2.0, abs=0.1) and (video["width"], video["height"]) == (640, 360)
        assert video["size"] == clip.stat().st_size and video["created_at"].endswith("Z")
        assert video["reprocess_status"] is None and video["reprocess_task_id"] is None
        assert video["files"] == {
            "original": f"/api/v1/videos/{video['video_id']}/files/original",
            "rendition": None,
            "poster": None,
            "storyboard": None,
        }
        one = await c.get(f"/api/v1/videos/{video['video_id']}")
        assert one.status_code == 200 and data(one) == video
        original = await c.get(video["files"]["original"])
        assert original.status_code == 200 and original.content == clip.read_bytes()
        never = await c.get(f"/api/v1/videos/{video['video_id']}/reprocess")
        assert never.status_code == 404 and never.json()["error_code"] == "not_found"


async def test_a_video_is_hidden_with_its_task(gw: Gateway, clip: Path) -> None:
    async with gw.client() as c:
        video = await uploaded_video(c, clip)
        assert (await c.post(f"/api/tasks/{video['source_task_id']}/hide")).status_code == 200
        assert video["video_id"] not in [v["video_id"] for v in data(await c.get("/api/v1/videos"))["videos"]]
        gone = await c.get(f"/api/v1/videos/{video['video_id']}")
        assert gone.status_code == 404 and gone.json()["error_code"] == "not_found"


async def test_run_sync_answers_202_then_409_while_it_runs_and_progress_lists_the_stages(
    gw: Gateway, clip: Path
) -> None:
    async with gw.client() as c:
        video = await uploaded_video(c, clip)
        vid = video["video_id"]
        started = await c.post(f"/api/v1/videos/{vid}/run_sync")
        assert started.status_code == 202, started.text
        answer = data(started)
        assert set(answer) == {"task_id", "video_id", "status", "message", "poll_url"}
        assert answer["video_id"] == vid and answer["status"] == "queued" and answer["message"]
        assert answer["poll_url"] == f"/api/v1/videos/{vid}/reprocess" == started.headers["location"]
        task_id = answer["task_id"]
        await wait_inbox(gw, "task.submit", task_id)

        again = await c.post(f"/api/v1/videos/{vid}/run_sync")
        assert again.status_code == 409 and again.json()["error_code"] == "reprocess_running"
        assert again.json()["data"] == {"video_id": vid, "task_id": task_id}

        # an ordinary task: in the task list with its type
        status = data(await c.get(f"/api/tasks/{task_id}/status"))
        assert status["task_type"] == "video_reprocess" and status["status"] == "queued"
        assert data(await c.get(f"/api/v1/videos/{vid}"))["reprocess_status"] == "queued"

        queued = data(await c.get(answer["poll_url"]))
        assert (queued["task_id"], queued["status"], queued["progress"], queued["subtasks"]) == (
            task_id,
            "queued",
            0.0,
            [],
        )
        assert queued["message"] and queued["finished"] is False

        await play_the_worker(gw, task_id)
        done = data(await c.get(answer["poll_url"]))
        assert done["status"] == "completed" and done["progress"] == 100.0 and done["finished"] is True
        assert done["started_at"] and done["finished_at"]
        assert [s["name"] for s in done["subtasks"]] == [
            "download",
            "probe",
            "rendition",
            "poster",
            "storyboard",
            "upload",
        ]
        assert {s["status"] for s in done["subtasks"]} == {"completed"}
        assert set(done["subtasks"][0]) == {"name", "status", "progress", "message"}
        assert done["subtasks"][1]["message"] == "640x360, 2.0 s"
        # the /api/tasks status shows the same ordered list
        assert data(await c.get(f"/api/tasks/{task_id}/status"))["subtasks"] == done["subtasks"]

        after = data(await c.get(f"/api/v1/videos/{vid}"))
        assert after["reprocess_status"] == "completed" and after["storyboard"]["count"] == 2
        poster = await c.get(after["files"]["poster"])
        assert poster.status_code == 200 and poster.content == b"\xff\xd8POSTER"
        assert poster.headers["content-type"] == "image/jpeg"
        rendition = await c.get(after["files"]["rendition"], headers={"Range": "bytes=0-2"})
        assert rendition.status_code == 206 and rendition.content == b"MP4"

        # finished: a new start is allowed
        second = await c.post(f"/api/v1/videos/{vid}/run_sync")
        assert second.status_code == 202 and data(second)["task_id"] != task_id


async def test_another_users_video_is_not_found_on_every_route(gw: Gateway, clip: Path) -> None:
    async with gw.client() as alice, gw.client() as bob:
        video = await uploaded_video(alice, clip)
        vid = video["video_id"]
        assert video["video_id"] not in [v["video_id"] for v in data(await bob.get("/api/v1/videos"))["videos"]]
        before = await snapshot(gw)
        for method, path in (
            ("GET", f"/api/v1/videos/{vid}"),
            ("POST", f"/api/v1/videos/{vid}/run_sync"),
            ("GET", f"/api/v1/videos/{vid}/reprocess"),
            ("GET", f"/api/v1/videos/{vid}/files/original"),
        ):
            r = await bob.request(method, path)
            assert r.status_code == 404 and r.json()["error_code"] == "not_found", (method, path, r.text)
        await settled(gw)
        assert (await snapshot(gw)).tasks == before.tasks  # bob's start made no task


@pytest.mark.parametrize(
    ("path", "body", "code", "field"),
    [
        ("/api/v1/videos/not-a-video/run_sync", None, "invalid_video_id", None),
        ("/api/v1/videos/{vid}/run_sync", b'{"rendition": "4k"}', "invalid_input", "rendition"),
        ("/api/v1/videos/{vid}/run_sync", b"[1, 2]", "invalid_input", "body"),
        ("/api/v1/videos/{vid}/run_sync", b"{not json", "invalid_input", None),
    ],
    ids=["bad id", "unknown field", "not an object", "not json"],
)
async def test_bad_input_is_refused_with_a_stable_code_and_creates_nothing(
    gw: Gateway, clip: Path, path: str, body: bytes | None, code: str, field: str | None
) -> None:
    async with gw.client() as c:
        video = await uploaded_video(c, clip)
        await settled(gw)
        before = await snapshot(gw)
        r = await c.post(path.format(vid=video["video_id"]), content=body, headers={"content-type": "application/json"})
        assert r.status_code == 422 and r.json()["error_code"] == code, r.text
        if field is not None:
            assert r.json()["data"]["field"] == field
        await settled(gw)
        assert (await snapshot(gw)).tasks == before.tasks
        assert data(await c.get(f"/api/v1/videos/{video['video_id']}"))["reprocess_task_id"] is None


async def test_other_bad_requests(gw: Gateway, clip: Path) -> None:
    async with gw.client() as c:
        video = await uploaded_video(c, clip)
        role = await c.get(f"/api/v1/videos/{video['video_id']}/files/thumbnail.exe")
        assert role.status_code == 422 and role.json()["error_code"] == "invalid_input"
        early = await c.get(f"/api/v1/videos/{video['video_id']}/files/poster")
        assert early.status_code == 409 and early.json()["error_code"] == "not_ready"
        limit = await c.get("/api/v1/videos?limit=0")
        assert limit.status_code == 422
        direct = await c.post("/api/tasks/create", json={"task_type": TaskType.VIDEO_REPROCESS.value})
        assert direct.status_code == 422 and direct.json()["error_code"] == "unknown_task_type"


async def test_the_routes_and_their_answers_are_described_in_openapi(gw: Gateway) -> None:
    async with gw.client() as c:
        spec = (await c.get("/openapi.json")).json()
    paths = spec["paths"]
    assert set(paths["/api/v1/videos/{video_id}/run_sync"]) == {"post"}
    assert "202" in paths["/api/v1/videos/{video_id}/run_sync"]["post"]["responses"]
    for path in ("/api/v1/videos", "/api/v1/videos/{video_id}", "/api/v1/videos/{video_id}/reprocess"):
        assert set(paths[path]) == {"get"}, path
    schemas = spec["components"]["schemas"]
    assert set(schemas["TaskProgressResponse"]["properties"]) >= {
        "task_id",
        "status",
        "progress",
        "message",
        "started_at",
        "finished_at",
        "subtasks",
    }
    assert set(schemas["SubTaskProgress"]["properties"]) == {"name", "status", "progress", "message"}
    assert set(schemas["AsyncTaskResponse"]["properties"]) == {"task_id", "video_id", "status", "message", "poll_url"}
