"""The bad-input suite: every refusal answers its code and creates or leaves nothing behind
(no task, no object, no multipart upload, no local file, counters unchanged)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote, urlsplit

import httpx
import pytest
import pytest_asyncio

from mediacraft.gateway.cookies import CookieSigner
from tests.integration.gateway.client import create, data, finish, upload, user_id_of
from tests.integration.gateway.conftest import embedded_gateway
from tests.integration.gateway.harness import TEST_COOKIE_KEY, Gateway, ShiftClock, settled, snapshot

# One gateway for the module: every test compares the state before and after its own requests.
pytestmark = pytest.mark.asyncio(loop_scope="module")

MISSING_ID = "00000000-0000-4000-8000-000000000000"


@dataclass
class Victim:
    user_id: str
    cookie: str  # the raw cookie value
    uploaded: str  # a watermark task with its file
    completed: str  # a finished task with a result
    queued: str


@pytest.fixture(scope="module")
def gateway(module_gateway: Gateway) -> Gateway:
    return module_gateway


@pytest.fixture(params=["single_write", "tee"])
def uploads_to(request: pytest.FixtureRequest, module_gateway: Gateway) -> Gateway:
    """Each broken upload runs twice: into a store on this machine (written once) and into one
    without local paths (written to the store and teed to a local copy, as with S3)."""
    return module_gateway if request.param == "single_write" else request.getfixturevalue("tee_gateway")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def victim(module_gateway: Gateway, clip: Path) -> Victim:
    gateway = module_gateway
    async with gateway.client() as c:
        me = await user_id_of(c)
        uploaded = await create(c, "watermark_removal")
        assert (await upload(c, uploaded["task_id"], clip)).status_code == 200
        done = await create(c, "watermark_removal")
        assert (await upload(c, done["task_id"], clip)).status_code == 200
        r = await c.post(f"/api/tasks/{done['task_id']}/config", json={"regions": [[1, 1, 20, 20]]})
        assert r.status_code == 202
        await finish(gateway, done["task_id"])
        queued = await create(c, "image_generation")
        assert (await c.post(f"/api/tasks/{queued['task_id']}/config", json={"prompt": "x"})).status_code == 202
        cookie = c.cookies[gateway.ctx.cookie.name]
    await settled(gateway)
    return Victim(me, cookie, uploaded["task_id"], done["task_id"], queued["task_id"])


async def unchanged(gw: Gateway, before: object) -> None:
    await settled(gw)
    assert await snapshot(gw) == before


def error_code(response: httpx.Response) -> str:
    return str(response.json()["error_code"])


# --- cookies ---------------------------------------------------------------------------------------


def bad_cookie(kind: str, victim: Victim, clock: ShiftClock) -> str | None:
    if kind == "missing":
        return None
    if kind == "tampered":
        return victim.cookie[:-1] + ("A" if victim.cookie[-1] != "A" else "B")
    if kind == "expired":
        return CookieSigner([TEST_COOKIE_KEY]).sign(victim.user_id, clock.now() - timedelta(days=31))
    if kind == "foreign_key":
        return CookieSigner(["someone-elses-key-0123456789"]).sign(victim.user_id, clock.now())
    if kind == "raw_uuid":
        return str(uuid.uuid4())
    if kind == "victim_id":
        return victim.user_id
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["missing", "tampered", "expired", "foreign_key", "raw_uuid", "victim_id"])
async def test_bad_cookies_get_a_fresh_identity_that_sees_nothing(gateway: Gateway, victim: Victim, kind: str) -> None:
    value = bad_cookie(kind, victim, gateway.clock)
    before = await snapshot(gateway)
    headers = {"Cookie": f"{gateway.ctx.cookie.name}={value}"} if value is not None else {}
    async with gateway.client() as c:
        r = await c.get("/api/user/tasks", headers=headers)
        assert r.status_code == 200
        assert data(r)["tasks"] == [] and data(r)["counts"] == {}
        fresh = r.headers["set-cookie"].split("=", 1)[1].split(".", 1)[0]
        assert fresh != victim.user_id
        cancel = await c.post(f"/api/tasks/{victim.queued}/cancel", headers=headers)
        assert cancel.status_code == 404
    await unchanged(gateway, before)
    assert "task.cancel" not in gateway.inbox.types()


# --- other users' tasks and malformed ids ---------------------------------------------------------

OWNER_ONLY = [
    ("GET", "status"),
    ("GET", "download"),
    ("POST", "cancel"),
    ("DELETE", ""),
    ("GET", "preview"),
    ("POST", "retry"),
    ("POST", "hide"),
    ("POST", "notified"),
    ("POST", "config"),
    ("POST", "upload"),
]


@pytest.mark.parametrize(("method", "action"), OWNER_ONLY)
async def test_another_users_task_is_a_404_like_a_missing_one(
    gateway: Gateway, victim: Victim, clip: Path, method: str, action: str
) -> None:
    async with gateway.client() as attacker:
        await user_id_of(attacker)
        before = await snapshot(gateway)
        answers = []
        for task_id in (victim.completed, victim.uploaded, MISSING_ID):
            path = f"/api/tasks/{task_id}/{action}".rstrip("/")
            kwargs: dict = {}
            if action == "config":
                kwargs["json"] = {"regions": [[1, 1, 5, 5]]}
            if action == "upload":
                kwargs["files"] = {"file": ("x.mp4", clip.read_bytes(), "video/mp4")}
            r = await attacker.request(method, path, **kwargs)
            answers.append((r.status_code, r.json()["error_code"], r.json()["message"]))
        assert answers[0] == answers[1] == answers[2] == (404, "not_found", "Task not found")
    await unchanged(gateway, before)
    assert "task.cancel" not in gateway.inbox.types() and "task.retry" not in gateway.inbox.types()


@pytest.mark.parametrize("task_id", ['{"$ne": null}', "not-a-uuid", "1 OR 1=1", "0" * 36, "g" * 8 + MISSING_ID[8:]])
async def test_malformed_task_ids_are_422(gateway: Gateway, task_id: str) -> None:
    async with gateway.client() as c:
        await user_id_of(c)
        before = await snapshot(gateway)
        for method, action in [
            ("GET", "status"),
            ("POST", "cancel"),
            ("GET", "download"),
            ("DELETE", ""),
            ("GET", "preview"),
            ("POST", "upload"),
            ("POST", "config"),
        ]:
            r = await c.request(method, f"/api/tasks/{quote(task_id, safe='')}/{action}".rstrip("/"))
            assert (r.status_code, error_code(r)) == (422, "invalid_task_id"), (method, action)
    await unchanged(gateway, before)


async def test_operator_objects_in_queries_and_bodies_are_422(gateway: Gateway, victim: Victim) -> None:
    nosql = '{"$ne": null}'
    async with gateway.client() as c:
        await user_id_of(c)
        before = await snapshot(gateway)
        assert (await c.get("/api/user/tasks", params={"cursor": nosql})).status_code == 422
        assert (await c.get("/api/user/tasks", params={"status": nosql})).status_code == 422
        assert (await c.get("/api/user/tasks", params={"type": nosql})).status_code == 422
        assert (await c.post("/api/tasks/create", json={"task_type": {"$ne": None}})).status_code == 422
        assert (await c.post("/api/tasks/notified", json={"task_ids": [{"$ne": None}]})).status_code == 422
        r = await c.post("/api/tasks/notified", json={"task_ids": [victim.completed]})
        assert r.status_code == 200 and data(r)["marked"] == 0
    await unchanged(gateway, before)
    stored = await gateway.store.get(victim.completed)
    assert stored is not None and stored.notified is False


# --- cross-site requests --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers", [{"Sec-Fetch-Site": "cross-site"}, {"Origin": "http://evil.example"}, {"Origin": "null"}]
)
async def test_cross_site_posts_are_refused_before_anything_happens(
    gateway: Gateway, victim: Victim, headers: dict[str, str]
) -> None:
    before = await snapshot(gateway)
    minted = gateway.metric("mediacraft_gateway_identities_minted_total")
    async with gateway.client() as stranger:
        r = await stranger.post("/api/tasks/create", json={"task_type": "watermark_removal"}, headers=headers)
        assert r.status_code == 403 and error_code(r) == "forbidden_origin"
        assert "set-cookie" not in r.headers
    async with gateway.client(cookies={gateway.ctx.cookie.name: victim.cookie}) as victims_browser:
        r = await victims_browser.post(f"/api/tasks/{victim.queued}/cancel", headers=headers)
        assert r.status_code == 403
    assert gateway.metric("mediacraft_gateway_identities_minted_total") == minted
    await unchanged(gateway, before)
    assert "task.cancel" not in gateway.inbox.types()


# --- bodies over the limit and broken uploads -----------------------------------------------------


async def raw_http(base_url: str, head: str, body: bytes = b"", *, read: bool = True) -> bytes:
    """Send a hand-made request (headers may lie about the body) and return the response bytes."""
    url = urlsplit(base_url)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    writer.write(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
    await writer.drain()
    response = await asyncio.wait_for(reader.read(65536), 10) if read else b""
    writer.close()
    return response


def request_head(path: str, cookie: str, length: int, boundary: str = "b") -> str:
    return (
        f"POST {path} HTTP/1.1\nHost: 127.0.0.1\nCookie: mc_uid={cookie}\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\nContent-Length: {length}\n"
    )


@pytest.mark.parametrize("endpoint", ["upload", "submit"])
async def test_a_declared_body_over_the_limit_is_refused_unread(
    gateway: Gateway, victim: Victim, endpoint: str
) -> None:
    async with gateway.client() as c:
        task = await create(c, "watermark_removal")
        cookie = c.cookies[gateway.ctx.cookie.name]
    before = await snapshot(gateway)
    path = (
        f"/api/tasks/{task['task_id']}/upload"
        if endpoint == "upload"
        else "/api/tasks/submit?task_type=watermark_removal"
    )
    response = await raw_http(gateway.base_url, request_head(path, cookie, 50 * 1024**3))
    assert response.startswith(b"HTTP/1.1 413"), response[:200]
    assert b'"code":413,' in response and b'"error_code":"payload_too_large"' in response
    await unchanged(gateway, before)


async def test_an_undeclared_chunked_body_over_the_limit_is_cut_off(uploads_to: Gateway, clip: Path) -> None:
    limit = uploads_to.ctx.settings.max_upload_bytes
    async with uploads_to.client() as c:
        task = await create(c, "watermark_removal")
        before = await snapshot(uploads_to)

        async def chunked() -> AsyncIterator[bytes]:
            yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="big.mp4"\r\n\r\n'
            yield clip.read_bytes()
            for _ in range(limit // (1024 * 1024) + 2):
                yield b"\0" * (1024 * 1024)
            yield b"\r\n--b--\r\n"

        r = await c.post(
            f"/api/tasks/{task['task_id']}/upload",
            content=chunked(),
            headers={"content-type": "multipart/form-data; boundary=b"},
        )
        assert r.status_code == 413 and error_code(r) == "file_too_large"
    await unchanged(uploads_to, before)


async def test_a_client_that_disconnects_mid_upload_leaves_nothing(uploads_to: Gateway, clip: Path) -> None:
    async with uploads_to.client() as c:
        task = await create(c, "watermark_removal")
        cookie = c.cookies[uploads_to.ctx.cookie.name]
    before = await snapshot(uploads_to)
    part = b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.mp4"\r\n\r\n'
    sent = part + clip.read_bytes() + b"\0" * (2 * 1024 * 1024)
    path = f"/api/tasks/{task['task_id']}/upload"
    await raw_http(uploads_to.base_url, request_head(path, cookie, len(sent) + 3 * 1024 * 1024), sent, read=False)
    await unchanged(uploads_to, before)
    stored = await uploads_to.store.get(task["task_id"])
    assert stored is not None and stored.status.value == "created" and stored.inputs == []


PLAYLIST = b"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nhttp://127.0.0.1:9/seg.ts\n#EXT-X-ENDLIST\n"
DISGUISED = {
    "html": (b"<!DOCTYPE html><html><body>not a video</body></html>", 415, "unsupported_format"),
    "hls": (PLAYLIST, 415, "unsupported_format"),
    "ffconcat": (b"ffconcat version 1.0\nfile '/etc/passwd'\n", 415, "unsupported_format"),
    "png": (b"\x89PNG\r\n\x1a\n" + b"\0" * 100, 415, "unsupported_format"),
    "empty": (b"", 422, "empty_file"),
}


@pytest.mark.parametrize("kind", sorted(DISGUISED))
async def test_files_that_are_not_videos_are_refused(uploads_to: Gateway, kind: str) -> None:
    content, status, code = DISGUISED[kind]
    async with uploads_to.client() as c:
        task = await create(c, "watermark_removal")
        before = await snapshot(uploads_to)
        r = await upload(c, task["task_id"], ("holiday.mp4", content))
        assert (r.status_code, error_code(r)) == (status, code)
        assert r.json()["message"][:1].isupper(), "a sentence for a person"
    await unchanged(uploads_to, before)


async def test_a_truncated_video_is_refused(uploads_to: Gateway, clip: Path) -> None:
    async with uploads_to.client() as c:
        task = await create(c, "watermark_removal")
        before = await snapshot(uploads_to)
        r = await upload(c, task["task_id"], ("cut.mp4", clip.read_bytes()[:5000]))
        assert r.status_code == 422 and error_code(r) == "invalid_media"
    await unchanged(uploads_to, before)


async def test_a_missing_file_field_is_refused(gateway: Gateway) -> None:
    async with gateway.client() as c:
        task = await create(c, "watermark_removal")
        before = await snapshot(gateway)
        r = await c.post(f"/api/tasks/{task['task_id']}/upload", files={"video": ("a.mp4", b"x", "video/mp4")})
        assert r.status_code == 422 and error_code(r) == "missing_file"
        r = await c.post(f"/api/tasks/{task['task_id']}/upload", json={"file": "a.mp4"})
        assert r.status_code == 422
    await unchanged(gateway, before)


@pytest.mark.parametrize("endpoint", ["upload", "submit"])
async def test_a_video_sent_under_another_field_name_is_named_as_such(
    gateway: Gateway, clip: Path, endpoint: str
) -> None:
    # larger than a form field may be: it must not read as "a form field is too large"
    video = clip.read_bytes() + b"\0" * (gateway.ctx.settings.max_form_field_bytes + 1)
    async with gateway.client() as c:
        path = "/api/tasks/submit"
        if endpoint == "upload":
            path = f"/api/tasks/{(await create(c, 'video_merge'))['task_id']}/upload"
        before = await snapshot(gateway)
        r = await c.post(
            path,
            data={"task_type": "video_merge"},
            files=[("files", ("a.mp4", video, "video/mp4")), ("files", ("b.mp4", video, "video/mp4"))],
        )
        assert (r.status_code, error_code(r)) == (422, "missing_file"), r.text
        assert "named file, not 'files'" in r.json()["message"]
    await unchanged(gateway, before)


HOSTILE_NAME = "../../" + "\x01\x1b[31m" + "\u202egnp" + "x" * 300 + ".mp4"


async def test_hostile_file_names_are_kept_only_as_safe_display_names(gateway: Gateway, clip: Path) -> None:
    async with gateway.client() as c:
        me = await user_id_of(c)
        task = await create(c, "watermark_removal")
        r = await upload(c, task["task_id"], (HOSTILE_NAME, clip.read_bytes()))
        assert r.status_code == 200, r.text
        name = data(r)["original_filename"]
        assert len(name) <= 200 and name.endswith(".mp4")
        assert "/" not in name and ".." not in name.split("x")[0]
        assert not any(ord(ch) < 32 or ch == "\u202e" for ch in name)
        keys = await gateway.objects_under()
        assert len([k for k in keys if k.startswith(f"uploads/{me}/{task['task_id']}/")]) == 1
        assert all(k.startswith(("uploads/", "results/")) for k in keys)
        assert not any(".." in k or "\u202e" in k or "x" * 20 in k for k in keys)
        r = await c.post(f"/api/tasks/{task['task_id']}/config", json={"regions": [[1, 1, 9, 9]]})
        assert r.status_code == 202
        await finish(gateway, task["task_id"])
        dl = await c.get(f"/api/tasks/{task['task_id']}/download")
        assert dl.status_code == 200
        disposition = dl.headers["content-disposition"]
        assert "\r" not in disposition and "\n" not in disposition and "../" not in disposition
    # the NUL byte cannot even travel in a multipart header: the request is refused as malformed
    async with gateway.client() as c:
        task = await create(c, "watermark_removal")
        before = await snapshot(gateway)
        r = await upload(c, task["task_id"], ("a\x00b.mp4", clip.read_bytes()))
        assert r.status_code in (200, 422)
        if r.status_code == 200:
            assert "\x00" not in data(r)["original_filename"]
        else:
            await unchanged(gateway, before)


# --- task requests ----------------------------------------------------------------------------------


async def test_an_unknown_task_type_creates_nothing(gateway: Gateway, clip: Path) -> None:
    async with gateway.client() as c:
        await user_id_of(c)
        before = await snapshot(gateway)
        r = await c.post("/api/tasks/create", json={"task_type": "upscale"})
        assert r.status_code == 422 and error_code(r) == "unknown_task_type"
        r = await c.post(
            "/api/tasks/submit",
            data={"task_type": "upscale"},
            files={"file": ("a.mp4", clip.read_bytes(), "video/mp4")},
        )
        assert r.status_code == 422 and error_code(r) == "unknown_task_type"
    await unchanged(gateway, before)


async def test_regions_outside_the_frame_leave_the_task_unsubmitted(gateway: Gateway, victim: Victim) -> None:
    async with gateway.client(cookies={gateway.ctx.cookie.name: victim.cookie}) as c:
        before = await snapshot(gateway)
        r = await c.post(f"/api/tasks/{victim.uploaded}/config", json={"regions": [[2000, 2000, 50, 50]]})
        assert r.status_code == 422 and error_code(r) == "invalid_regions"
        assert data(r)["frame"] == {"width": 640, "height": 360}
    await unchanged(gateway, before)
    assert victim.uploaded not in [m.payload.get("task_id") for m in gateway.inbox.messages]


async def test_config_before_upload_is_refused(gateway: Gateway) -> None:
    async with gateway.client() as c:
        task = await create(c, "watermark_removal")
        before = await snapshot(gateway)
        r = await c.post(f"/api/tasks/{task['task_id']}/config", json={"regions": [[1, 1, 5, 5]]})
        assert r.status_code == 409 and error_code(r) == "upload_required"
    await unchanged(gateway, before)


async def test_a_repeated_idempotency_key_returns_the_first_task(gateway: Gateway) -> None:
    async with gateway.client() as c:
        first = await create(c, "video_merge", **{"Idempotency-Key": "abc-1"})
        before = await snapshot(gateway)
        r = await c.post("/api/tasks/create", json={"task_type": "video_merge"}, headers={"Idempotency-Key": "abc-1"})
        assert r.status_code == 201 and r.headers["idempotent-replayed"] == "true"
        assert data(r)["task_id"] == first["task_id"]
        reused = await c.post(
            "/api/tasks/create", json={"task_type": "watermark_removal"}, headers={"Idempotency-Key": "abc-1"}
        )
        assert reused.status_code == 422 and error_code(reused) == "idempotency_key_reused"
        bad = await c.post("/api/tasks/create", json={"task_type": "video_merge"}, headers={"Idempotency-Key": "a b"})
        assert bad.status_code == 422
    before_counters = dict(before.counters)
    await settled(gateway)
    after = await snapshot(gateway)
    assert after.tasks == before.tasks and after.objects == before.objects
    assert (
        after.counters["mediacraft_gateway_tasks_created_total"]
        == before_counters["mediacraft_gateway_tasks_created_total"]
    )
    async with gateway.client() as other:  # the same key from another user is another task
        theirs = await create(other, "video_merge", **{"Idempotency-Key": "abc-1"})
        assert theirs["task_id"] != first["task_id"]


# --- floods -----------------------------------------------------------------------------------------


@pytest_asyncio.fixture(loop_scope="module")
async def strict_gateway(tmp_path: Path) -> AsyncIterator[Gateway]:
    """The gateway with narrow rate limits, to check the buckets' arithmetic (a burst, then a refill).

    The defaults are wider (tests/integration/gateway/hostile/test_limits_for_people.py) and the
    open-draft cap is off here, so that only the create rate refuses."""
    async with embedded_gateway(
        tmp_path,
        rate_user_burst=100,
        rate_ip_burst=400,
        rate_create_burst=20,
        rate_create_per_second=0.2,
        new_identities_per_ip_burst=10,
        new_identities_per_ip_per_minute=10.0,
        max_open_drafts_per_user=None,
    ) as gw:
        yield gw


async def test_thirty_creates_in_ten_seconds_from_one_identity(strict_gateway: Gateway) -> None:
    gw = strict_gateway
    async with gw.client() as c:
        await user_id_of(c)
        started = gw.clock.now()
        codes = []
        for _ in range(30):
            r = await c.post("/api/tasks/create", json={"task_type": "video_merge"})
            codes.append(r.status_code)
            if r.status_code == 429:
                assert error_code(r) == "rate_limited" and int(r.headers["retry-after"]) >= 1
            gw.clock.shift(10 / 30)
        elapsed = (gw.clock.now() - started).total_seconds()
    created = codes.count(201)
    # a burst of 20, then one more every 5 s (10 s of requests plus the real time they took)
    assert 20 <= created <= 20 + elapsed / 5 + 1 and codes.count(429) == 30 - created >= 7
    assert len(await gw.all_tasks()) == created
    assert gw.metric("mediacraft_gateway_tasks_created_total", task_type="video_merge") == created


async def test_thirty_creates_from_fresh_cookies_on_one_ip(strict_gateway: Gateway) -> None:
    gw = strict_gateway
    codes = []
    started = gw.clock.now()
    async with gw.client() as browser:
        for _ in range(30):
            browser.cookies.clear()  # a fresh visitor each time, from the same address
            r = await browser.post("/api/tasks/create", json={"task_type": "video_merge"})
            codes.append(r.status_code)
            if r.status_code == 429:
                assert error_code(r) == "too_many_identities" and "set-cookie" not in r.headers
                assert int(r.headers["retry-after"]) >= 1
            gw.clock.shift(10 / 30)
    elapsed = (gw.clock.now() - started).total_seconds()
    created = codes.count(201)
    # 10 new identities at once, then 10 a minute
    assert 10 <= created <= 10 + elapsed / 6 + 1 and codes.count(429) == 30 - created >= 15
    assert len(await gw.all_tasks()) == created
    assert gw.metric("mediacraft_gateway_identities_minted_total") == created
    assert gw.identity.minted == created
