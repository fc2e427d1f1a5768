"""Object storage down: the gateway answers 503 `storage_unavailable` with `Retry-After` and a plain
sentence (no host, port, bucket or key of ours), changes nothing, and works again once it is back.

The S3 server is a SeaweedFS of this test's own, killed and started again on the same ports."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from mediacraft.shared.adapters.bus.memory import MemoryBus
from mediacraft.shared.adapters.factory import make_object_store
from mediacraft.shared.adapters.store.sqlite import SqliteStore
from mediacraft.shared.topology import build_topology
from mediacraft.standalone.seaweed import S3Server, relaunch_seaweed, start_seaweed, stop_seaweed
from tests.fixtures.availability import unavailable
from tests.integration.gateway.client import create, envelope, finish, upload
from tests.integration.gateway.harness import Gateway, ShiftClock, gateway_settings, serve_gateway

pytestmark = [pytest.mark.slow, pytest.mark.drill]

BUCKET = "outage"


@pytest.fixture
def own_seaweed(tmp_path: Path) -> Iterator[S3Server]:
    try:
        server = start_seaweed(tmp_path / "seaweed")
    except RuntimeError as exc:
        unavailable(str(exc))
    yield server
    stop_seaweed(server)


@pytest.fixture
async def s3_gateway(tmp_path: Path, own_seaweed: S3Server) -> AsyncIterator[Gateway]:
    clock = ShiftClock()
    async with serve_gateway(
        gateway_settings(tmp_path),
        store=SqliteStore(tmp_path / "db" / "mediacraft.db", clock=clock, synchronous="NORMAL"),
        objects=make_object_store(own_seaweed.url(BUCKET)),
        bus=MemoryBus(topology=build_topology((1000,)), clock=clock),
        clock=clock,
    ) as gw:
        yield gw


def assert_storage_unavailable(response: httpx.Response, server: S3Server) -> None:
    assert response.status_code == 503, response.text
    body = envelope(response)
    assert body["error_code"] == "storage_unavailable"
    assert int(response.headers["retry-after"]) > 0
    text = response.text
    host, port = server.endpoint.split(":")
    for internal in (host, BUCKET, "results/", "uploads/", "HTTPConnectionPool", "Max retries"):
        assert internal not in text, (internal, text)
    assert not re.search(rf"\b{port}\b", text)
    assert all(str(p) not in text for p in server.ports)


def kill(server: S3Server) -> None:
    assert server.process is not None
    server.process.kill()
    server.process.wait(timeout=10)


async def test_uploads_and_downloads_during_a_storage_outage_answer_503_and_work_again_after(
    s3_gateway: Gateway, own_seaweed: S3Server, clip: Path, drill_record: Callable[[str, Any], None]
) -> None:
    gw = s3_gateway
    async with gw.client() as c:
        done = await create(c, "watermark_removal")
        assert (await upload(c, done["task_id"], clip)).status_code == 200
        r = await c.post(f"/api/tasks/{done['task_id']}/config", json={"regions": [[10, 10, 50, 40]]})
        assert r.status_code == 202, r.text
        await finish(gw, done["task_id"])
        waiting = await create(c, "watermark_removal")

        kill(own_seaweed)
        began = time.monotonic()
        refused = await upload(c, waiting["task_id"], clip)
        drill_record("upload answered 503 in (s)", time.monotonic() - began)
        assert_storage_unavailable(refused, own_seaweed)
        assert (await gw.store.get(waiting["task_id"])).status.value == "created"  # nothing changed
        began = time.monotonic()
        assert_storage_unavailable(await c.get(f"/api/tasks/{done['task_id']}/download"), own_seaweed)
        drill_record("download answered 503 in (s)", time.monotonic() - began)
        status = await c.get(f"/api/tasks/{waiting['task_id']}/status")
        assert status.status_code == 200  # what the store answers is still answered

        assert relaunch_seaweed(own_seaweed) is None
        accepted = await upload(c, waiting["task_id"], clip)
        assert accepted.status_code == 200, accepted.text
        result = await c.get(f"/api/tasks/{done['task_id']}/download")
        assert result.status_code == 200 and result.content == b"RESULT" * 1000
    assert len(await gw.objects_under("uploads/")) == 2  # one per task: the refused upload left nothing
