"""Every JSON answer of the gateway is the documented envelope: `code` is the HTTP status as an
integer; on success `message` is "Success" and `error_code` null; on failure `error_code` is the
stable code and `message` a sentence; `meta.version` is "v1" and `meta.request_id` the
X-Request-ID. Each kind of answer is provoked through the real routes (`envelope` checks the form)."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from mediacraft.gateway.identity_client import HttpIdentityClient
from mediacraft.identity.api import create_app as create_identity_app
from mediacraft.identity.service import IdentityService
from mediacraft.shared.adapters.bus.memory import MemoryBus
from mediacraft.shared.adapters.store.sqlite import SqliteStore
from mediacraft.shared.clock import SystemClock
from mediacraft.shared.topology import build_topology
from tests.integration.gateway.client import create, envelope, finish, upload, user_id_of
from tests.integration.gateway.conftest import embedded_gateway
from tests.integration.gateway.harness import Gateway, free_socket, serve_app

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(scope="module")
def gw(module_gateway: Gateway) -> Gateway:
    """Shared by the module; each test works as its own new visitor."""
    return module_gateway


def succeeded(response: httpx.Response, status: int) -> Any:
    doc = envelope(response)
    assert doc["code"] == status and doc["success"] is True, doc
    return doc["data"]


def refused(response: httpx.Response, status: int, error_code: str) -> dict[str, Any]:
    doc = envelope(response)
    assert (doc["code"], doc["error_code"], doc["success"]) == (status, error_code, False), doc
    return doc


async def test_successes_say_200_201_and_202_in_code(gw: Gateway, clip: Path) -> None:
    async with gw.client() as c:
        assert succeeded(await c.get("/api/user/info"), 200)["user_id"]
        draft = succeeded(await c.post("/api/tasks/create", json={"task_type": "watermark_removal"}), 201)
        task_id = draft["task_id"]
        assert succeeded(await upload(c, task_id, clip), 200)["status"] == "uploaded"
        queued = succeeded(await c.post(f"/api/tasks/{task_id}/config", json={"regions": [[5, 5, 30, 30]]}), 202)
        assert queued["status"] == "queued" and queued["duplicate"] is False
        assert succeeded(await c.get(f"/api/tasks/{task_id}/status"), 200)["task_id"] == task_id
        assert succeeded(await c.get("/api/user/tasks"), 200)["tasks"]
        assert succeeded(await c.get("/api/tasks/unfinished"), 200)["tasks"]
        assert succeeded(await c.post(f"/api/tasks/{task_id}/cancel"), 202)["task_id"] == task_id
        assert succeeded(await c.post(f"/api/tasks/{task_id}/hide"), 200)["hidden"] is True
        assert succeeded(await c.post("/api/tasks/clear-finished"), 200) == {"cleared": 0, "task_ids": []}
        assert succeeded(await c.get("/healthz"), 200) == {"status": "alive"}
        assert succeeded(await c.get("/readyz"), 200)["ready"] is True


async def test_a_duplicate_submit_is_a_success_that_says_so_in_data(gw: Gateway) -> None:
    async with gw.client() as c:
        body = {"task_type": "image_generation", "config": {"prompt": "a duplicate lighthouse"}}
        first = succeeded(await c.post("/api/tasks/submit", json=body), 202)
        again = succeeded(await c.post("/api/tasks/submit", json=body), 200)
        assert (first["duplicate"], again["duplicate"], again["task_id"]) == (False, True, first["task_id"])
        draft = await create(c, "image_generation")
        by_config = await c.post(f"/api/tasks/{draft['task_id']}/config", json=body["config"])
        duplicate = succeeded(by_config, 200)
        assert duplicate["duplicate"] is True and duplicate["task_id"] == first["task_id"]


async def test_invalid_requests_are_422_with_their_stable_code(gw: Gateway) -> None:
    async with gw.client() as c:
        missing_field = refused(await c.post("/api/tasks/create", json={}), 422, "validation_error")
        assert missing_field["data"]["errors"] and missing_field["message"].startswith("Invalid request")
        refused(await c.post("/api/tasks/create", json={"task_type": "juggling"}), 422, "unknown_task_type")
        refused(await c.get("/api/tasks/not-a-task-id/status"), 422, "invalid_task_id")
        draft = await create(c, "image_generation")
        refused(await c.post(f"/api/tasks/{draft['task_id']}/config", json={"prompt": ""}), 422, "invalid_prompt")
        refused(await upload(c, draft["task_id"], ("a.mp4", b"\0")), 409, "upload_not_allowed")
        refused(await c.post(f"/api/tasks/{draft['task_id']}/config", content=b"{nope"), 422, "invalid_input")
        refused(await c.get("/api/user/tasks", params={"cursor": "???"}), 422, "invalid_cursor")


async def test_unknown_tasks_and_unknown_routes_are_404(gw: Gateway) -> None:
    async with gw.client() as c:
        unknown = refused(await c.get(f"/api/tasks/{uuid.uuid4()}/status"), 404, "not_found")
        assert unknown["message"] == "Task not found"
        for method, path in (
            ("GET", "/api/no-such-route"),
            ("POST", "/api/tasks/x/y/z"),
            ("GET", "/no-such-page"),
            ("GET", "/internal/users"),
        ):
            refused(await c.request(method, path), 404, "not_found")


async def test_a_wrong_method_is_405_with_allow(gw: Gateway) -> None:
    async with gw.client() as c:
        wrong = await c.get("/api/tasks/create")
        refused(wrong, 405, "method_not_allowed")
        assert "POST" in wrong.headers["allow"]
        refused(await c.delete("/api/user/info"), 405, "method_not_allowed")


async def test_conflicts_are_409_a_lost_result_410_and_a_bad_range_416(gw: Gateway, clip: Path) -> None:
    async with gw.client() as c:
        task_id = (await create(c, "watermark_removal"))["task_id"]
        early = await c.post(f"/api/tasks/{task_id}/config", json={"regions": [[5, 5, 30, 30]]})
        refused(early, 409, "upload_required")
        await upload(c, task_id, clip)
        await c.post(f"/api/tasks/{task_id}/config", json={"regions": [[5, 5, 30, 30]]})
        refused(await upload(c, task_id, clip), 409, "invalid_state")
        refused(await c.get(f"/api/tasks/{task_id}/download"), 409, "not_ready")
        refused(await c.post(f"/api/tasks/{task_id}/retry"), 409, "not_retryable")
        await finish(gw, task_id, b"x" * 1000)
        refused(await c.post(f"/api/tasks/{task_id}/cancel"), 409, "not_cancellable")
        refused(
            await c.get(f"/api/tasks/{task_id}/download", headers={"Range": "bytes=5000-6000"}),
            416,
            "range_not_satisfiable",
        )
        stored = await gw.store.get(task_id)
        assert stored is not None and stored.result is not None
        await gw.objects.delete(stored.result.key)
        refused(await c.get(f"/api/tasks/{task_id}/download"), 410, "expired")


async def test_bodies_over_their_limits_are_413_and_other_media_415(gw: Gateway, clip: Path) -> None:
    async with gw.client() as c:
        task_id = (await create(c, "watermark_removal"))["task_id"]
        too_long = b'{"regions": [' + b"[1, 1, 2, 2], " * 10_000 + b"[1, 1, 2, 2]]}"
        refused(await c.post(f"/api/tasks/{task_id}/config", content=too_long), 413, "payload_too_large")
        html = await upload(c, task_id, ("movie.mp4", b"<!DOCTYPE html><html><body>hi</body></html>"))
        refused(html, 415, "unsupported_format")
        limit = gw.ctx.settings.max_upload_bytes
        body = (
            b'--b\r\nContent-Disposition: form-data; name="file"; filename="big.mp4"\r\n\r\n'
            + clip.read_bytes()
            + b"\0" * limit
            + b"\r\n--b--\r\n"
        )
        big = await c.post(
            f"/api/tasks/{task_id}/upload", content=body, headers={"content-type": "multipart/form-data; boundary=b"}
        )
        refused(big, 413, "file_too_large")


async def test_a_cross_site_request_is_403(gw: Gateway) -> None:
    async with gw.client() as c:
        forged = await c.post(
            "/api/tasks/create",
            json={"task_type": "image_generation"},
            headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
        )
        assert refused(forged, 403, "forbidden_origin")["message"].startswith("Refused")


async def test_rate_limits_are_429_with_retry_after(tmp_path: Path) -> None:
    async with embedded_gateway(tmp_path, rate_create_burst=1, rate_create_per_second=0.001) as gw, gw.client() as c:
        await create(c, "image_generation")
        second = await c.post("/api/tasks/create", json={"task_type": "image_generation"})
        refused(second, 429, "rate_limited")
        assert int(second.headers["retry-after"]) >= 1


async def test_an_unreachable_identity_service_is_503(tmp_path: Path) -> None:
    with free_socket() as sock:  # a port nothing listens on once closed
        url = "http://{}:{}".format(*sock.getsockname())
    down = HttpIdentityClient(url, "token", timeout=2.0)
    async with embedded_gateway(tmp_path, identity_client=down) as gw, gw.client() as c:
        visit = await c.get("/api/user/info")
        refused(visit, 503, "unavailable")
        assert visit.headers["retry-after"] and "set-cookie" not in visit.headers
        not_ready = refused(await c.get("/readyz"), 503, "unavailable")
        assert not_ready["data"]["ready"] is False and not_ready["data"]["checks"]["identity"] is False


async def test_a_store_that_fails_is_a_500_in_the_envelope(tmp_path: Path) -> None:
    async with embedded_gateway(tmp_path) as gw, gw.client() as c:
        await user_id_of(c)

        def drop_tasks() -> None:  # the database loses its tasks table under the running gateway
            with sqlite3.connect(tmp_path / "db" / "mediacraft.db") as db:
                db.execute("DROP TABLE tasks")

        await asyncio.to_thread(drop_tasks)
        broken = await c.get("/api/user/tasks")
        doc = refused(broken, 500, "internal_error")
        assert doc["message"] == "Something went wrong on our side" and doc["data"] is None


async def test_an_identity_service_refusing_the_gateway_is_a_500_in_the_envelope(tmp_path: Path) -> None:
    clock = SystemClock()
    store = SqliteStore(tmp_path / "identity.db", clock=clock, synchronous="NORMAL")
    bus = MemoryBus(topology=build_topology((1000,)), clock=clock)
    await store.start()
    await bus.start()
    identity = create_identity_app(IdentityService(users=store, tasks=store, bus=bus, clock=clock), token="right")
    try:
        async with serve_app(identity) as identity_url:
            wrong_token = HttpIdentityClient(identity_url, "wrong")
            async with embedded_gateway(tmp_path / "gw", identity_client=wrong_token) as gw, gw.client() as c:
                refused(await c.get("/api/user/info"), 500, "internal_error")
                assert succeeded(await c.get("/healthz"), 200) == {"status": "alive"}
    finally:
        await bus.close()
        await store.close()
