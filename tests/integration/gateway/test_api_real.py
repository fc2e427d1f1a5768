"""The core API flows against the production adapters: RabbitMQ, S3 (SeaweedFS) and the Mongo adapter."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from mediacraft.shared.adapters.bus.rabbitmq import RabbitBus
from mediacraft.shared.adapters.factory import make_object_store
from mediacraft.shared.adapters.store.mongo import MongoStore
from mediacraft.shared.topology import build_topology
from tests.fixtures.mongo import MongoTarget
from tests.integration.gateway import flows
from tests.integration.gateway.client import create, finish, upload
from tests.integration.gateway.harness import Gateway, ShiftClock, gateway_settings, serve_gateway

pytestmark = pytest.mark.slow


@pytest.fixture
async def real_gateway(
    tmp_path: Path, rabbit_vhost_url: str, s3_url: str, mongo_target: MongoTarget
) -> AsyncIterator[Gateway]:
    clock = ShiftClock()
    async with serve_gateway(
        gateway_settings(tmp_path),
        store=MongoStore(mongo_target.url, clock=clock, **mongo_target.store_kwargs()),
        objects=make_object_store(s3_url),
        bus=RabbitBus(rabbit_vhost_url, topology=build_topology((1000,))),
        clock=clock,
    ) as gw:
        yield gw


async def test_watermark_round_trip(real_gateway: Gateway, clip: Path) -> None:
    await flows.watermark_round_trip(real_gateway, clip)


async def test_merge_inputs_keep_their_order(real_gateway: Gateway, clip: Path, clip_b: Path) -> None:
    await flows.merge_in_order(real_gateway, clip, clip_b)


async def test_returning_visitor_sees_everything_and_strangers_nothing(real_gateway: Gateway, clip: Path) -> None:
    await flows.returning_visitor_and_strangers(real_gateway, clip)


async def test_one_call_submit_duplicates_and_idempotency_keys(real_gateway: Gateway, clip: Path) -> None:
    await flows.one_call_submit_duplicates_and_keys(real_gateway, clip)


async def test_live_events_and_resume(real_gateway: Gateway, clip: Path) -> None:
    await flows.live_events_and_resume(real_gateway, clip)


async def test_refused_uploads_leave_no_object_and_no_multipart_upload(real_gateway: Gateway, clip: Path) -> None:
    await flows.refused_uploads_leave_nothing(real_gateway, clip)


async def test_downloads_redirect_to_a_presigned_url(real_gateway: Gateway, clip: Path) -> None:
    gw = real_gateway
    gw.ctx.settings.download_redirect = True
    async with gw.client() as c:
        task = await create(c, "watermark_removal")
        assert (await upload(c, task["task_id"], clip)).status_code == 200
        assert (
            await c.post(f"/api/tasks/{task['task_id']}/config", json={"regions": [[1, 1, 9, 9]]})
        ).status_code == 202
        await finish(gw, task["task_id"], b"result-bytes")
        r = await c.get(f"/api/tasks/{task['task_id']}/download")
        assert r.status_code == 307 and "X-Amz-Signature" in r.headers["location"]
        async with gw.client() as anyone:  # the URL itself is the short-lived credential
            fetched = await anyone.get(r.headers["location"])
        assert fetched.status_code == 200 and fetched.content == b"result-bytes"
        assert "clip_clean.mp4" in fetched.headers.get("content-disposition", "")
