"""The default limits stop floods, not people: one visitor submits 100 tasks in a row without
waiting, and 50 new visitors behind one address (an office, a school) all get an identity."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.integration.gateway.client import data, user_id_of
from tests.integration.gateway.conftest import embedded_gateway
from tests.integration.gateway.flows import wait_inbox
from tests.integration.gateway.hostile.defaults import default_limits


async def test_one_visitor_submits_a_hundred_tasks_in_a_row_and_all_are_accepted(tmp_path: Path) -> None:
    async with embedded_gateway(tmp_path, **default_limits()) as gw:
        async with gw.client() as c:
            await user_id_of(c)
            submitted = []
            for i in range(100):  # as fast as the client goes: no clock moved, no pause
                r = await c.post("/api/tasks/create", json={"task_type": "image_generation"})
                assert r.status_code == 201, (i, r.text)
                task_id = data(r)["task_id"]
                r = await c.post(f"/api/tasks/{task_id}/config", json={"prompt": f"picture number {i}"})
                assert r.status_code == 202, (i, r.text)
                submitted.append(task_id)
            listing = data(await c.get("/api/user/tasks", params={"status": "queued", "limit": 100}))
        assert len({t["task_id"] for t in listing["tasks"]}) == 100
        tasks = await gw.all_tasks()
        assert sorted(t.task_id for t in tasks) == sorted(submitted)
        assert {t.status.value for t in tasks} == {"queued"}
        await wait_inbox(gw, "task.submit", submitted[-1])
        assert gw.metric("mediacraft_gateway_refused_total", reason="create_rate") == 0
        assert gw.metric("mediacraft_gateway_refused_total", reason="user_rate") == 0


async def test_fifty_new_visitors_from_one_address_within_a_minute_all_get_an_identity(tmp_path: Path) -> None:
    async with embedded_gateway(tmp_path, **default_limits()) as gw:
        users = []
        for _ in range(50):
            async with gw.client() as visitor:  # a new browser each time, all from 127.0.0.1
                r = await visitor.post("/api/tasks/create", json={"task_type": "video_merge"})
                assert r.status_code == 201, r.text
                assert "set-cookie" in r.headers
                users.append(await user_id_of(visitor))
            gw.clock.shift(1.0)  # 50 arrivals spread over 50 seconds
        assert len(set(users)) == 50
        assert gw.identity.minted == 50
        assert gw.metric("mediacraft_gateway_identities_minted_total") == 50
        assert len(await gw.all_tasks()) == 50


async def test_a_flood_of_new_identities_from_one_address_is_still_cut(tmp_path: Path) -> None:
    """The cap on new identities per address still holds, at the wider default (burst 60)."""
    burst = default_limits()["new_identities_per_ip_burst"]
    async with embedded_gateway(tmp_path, **default_limits()) as gw:
        started = gw.clock.now()

        async def visit() -> int:
            async with gw.client() as visitor:
                r = await visitor.get("/api/user/info")
                if r.status_code == 429:
                    assert r.json()["error_code"] == "too_many_identities" and "set-cookie" not in r.headers
                return r.status_code

        codes = await asyncio.gather(*(visit() for _ in range(burst + 40)))
        elapsed = (gw.clock.now() - started).total_seconds()
        served = codes.count(200)
        # the burst, and one more a second for however long the flood took
        assert burst <= served <= burst + elapsed + 1 and codes.count(429) == len(codes) - served
        assert gw.identity.minted == served
