"""Slow and long-lived connections: a stalled upload is cut with 408 `request_timeout` within the
configured idle time and its partial object removed; the 9th live stream of one identity closes
the oldest, which is told why in a final `closed` event."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.fixtures.waiting import eventually
from tests.integration.gateway.client import create
from tests.integration.gateway.conftest import embedded_gateway
from tests.integration.gateway.harness import Gateway, settled, snapshot

IDLE_SECONDS = 1.0


@pytest.mark.parametrize("local_paths", [True, False], ids=["single_write", "tee"])
async def test_a_stalled_upload_is_cut_and_its_partial_object_removed(
    tmp_path: Path, clip: Path, local_paths: bool
) -> None:
    async with embedded_gateway(tmp_path, local_paths=local_paths, body_idle_timeout_seconds=IDLE_SECONDS) as gw:
        async with gw.client() as c:
            task = await create(c, "watermark_removal")
            cookie = c.cookies[gw.ctx.cookie.name]
        before = await snapshot(gw)
        url = urlsplit(gw.base_url)
        reader, writer = await asyncio.open_connection(url.hostname, url.port)
        part = b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.mp4"\r\n\r\n' + clip.read_bytes()
        writer.write(
            (
                f"POST /api/tasks/{task['task_id']}/upload HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Cookie: mc_uid={cookie}\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                f"Content-Length: {len(part) + 2 * 1024 * 1024}\r\n\r\n"
            ).encode()
            + part
        )
        await writer.drain()
        # the upload is under way: an object is being written
        await eventually(
            lambda: gw.metric("mediacraft_gateway_uploads_in_progress") == 1, timeout=10, what="upload started"
        )
        stalled_at = time.monotonic()
        response = await asyncio.wait_for(reader.read(65536), IDLE_SECONDS + 10)
        cut_after = time.monotonic() - stalled_at
        writer.close()
        head, _, body = response.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408"), response[:300]
        assert b"connection: close" in head.lower()
        assert json.loads(body)["error_code"] == "request_timeout"
        assert IDLE_SECONDS * 0.9 <= cut_after < IDLE_SECONDS + 5
        await settled(gw)
        assert await snapshot(gw) == before  # no object, no incomplete upload, no local file, no counter
        stored = await gw.store.get(task["task_id"])
        assert stored is not None and stored.inputs == []


async def test_a_trickling_upload_is_cut_below_the_minimum_rate(tmp_path: Path, clip: Path) -> None:
    async with embedded_gateway(tmp_path, body_min_rate_bytes_per_second=100_000, body_rate_grace_seconds=0.5) as gw:
        async with gw.client() as c:
            task = await create(c, "watermark_removal")
            before = await snapshot(gw)

            async def trickle() -> AsyncIterator[bytes]:
                yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.mp4"\r\n\r\n'
                yield clip.read_bytes()[:8192]
                while True:  # 1 KiB every 0.1 s: about 10 KB/s, under the minimum of 100 KB/s
                    await asyncio.sleep(0.1)
                    yield b"\0" * 1024

            try:
                r = await c.post(
                    f"/api/tasks/{task['task_id']}/upload",
                    content=trickle(),
                    headers={"content-type": "multipart/form-data; boundary=b"},
                    timeout=30,
                )
                assert (r.status_code, r.json()["error_code"]) == (408, "request_timeout")
            except httpx.TransportError:
                pass  # the connection was closed while the client still sent; checked below
        await settled(gw)
        assert await snapshot(gw) == before
        assert gw.metric("mediacraft_gateway_refused_total", reason="request_timeout") == 1


async def read_event(lines: AsyncIterator[str], name: str) -> dict[str, Any]:
    """Read SSE lines until an event called `name`; its data."""
    current = None
    async for line in lines:
        if line.startswith("event: "):
            current = line.removeprefix("event: ")
        elif line.startswith("data: ") and current == name:
            return json.loads(line.removeprefix("data: "))
    raise AssertionError(f"the stream ended before a {name!r} event")


async def test_the_ninth_live_stream_of_one_identity_closes_the_oldest(gateway: Gateway) -> None:
    cap = gateway.ctx.settings.sse_max_streams_per_user
    assert cap == 8
    async with gateway.client() as c:
        await c.get("/api/user/info")
        me = gateway.ctx.signer.verify(c.cookies[gateway.ctx.cookie.name], gateway.clock.now())
        assert me is not None
        streams = []
        for _ in range(cap):
            ctx = c.stream("GET", "/api/events")
            response = await ctx.__aenter__()
            lines = response.aiter_lines()
            await read_event(lines, "ready")
            streams.append((ctx, lines))
        assert gateway.ctx.hub.subscriber_count(me.user_id) == cap
        ninth = c.stream("GET", "/api/events")
        ninth_lines = (await ninth.__aenter__()).aiter_lines()
        await read_event(ninth_lines, "ready")
        closed = await asyncio.wait_for(read_event(streams[0][1], "closed"), 10)
        assert closed["reason"] == "too_many_streams" and closed["message"]
        rest = [line async for line in streams[0][1]]
        assert not any(rest), "the oldest stream ends after its closed event"
        assert gateway.ctx.hub.subscriber_count(me.user_id) == cap
        assert gateway.metric("mediacraft_gateway_sse_closed_total", reason="too_many_streams") == 1
        for ctx, _ in [*streams, (ninth, None)]:
            await ctx.__aexit__(None, None, None)
    await eventually(lambda: gateway.ctx.hub.subscriber_count(me.user_id) == 0, timeout=5, what="streams closed")
