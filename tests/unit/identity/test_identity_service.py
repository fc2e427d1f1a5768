"""The identity service on a real SQLite file and the in-process bus."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from mediacraft.gateway.identity_client import HttpIdentityClient, InProcessIdentityClient
from mediacraft.identity.api import create_app
from mediacraft.identity.handlers import subscribe
from mediacraft.identity.service import IdentityService
from mediacraft.identity.settings import IdentitySettings
from mediacraft.shared.adapters.bus.memory import MemoryBus
from mediacraft.shared.adapters.store.sqlite import SqliteStore
from mediacraft.shared.clock import FakeClock
from mediacraft.shared.messages import Envelope, UserSeen
from mediacraft.shared.tasks import Task, TaskStatus, TaskType
from mediacraft.shared.topology import EVENTS, IDENTITY_INBOX, build_topology

TOKEN = "identity-test-token"


@pytest.fixture
async def parts(tmp_path: Path) -> AsyncIterator[tuple[IdentityService, SqliteStore, MemoryBus, FakeClock]]:
    clock = FakeClock()
    store = SqliteStore(tmp_path / "id.db", clock=clock, synchronous="NORMAL")
    bus = MemoryBus(topology=build_topology((1000,)), clock=clock)
    await store.start()
    await bus.start()
    yield IdentityService(users=store, tasks=store, bus=bus, clock=clock), store, bus, clock
    await bus.close()
    await store.close()


async def test_mint_stores_a_random_user_and_announces_it(parts) -> None:
    service, store, bus, clock = parts
    a, b = await service.mint(), await service.mint()
    assert a.user_id != b.user_id and len(a.user_id) == 32
    stored = await store.get_user(a.user_id)
    assert stored is not None and stored.created_at == clock.now() and stored.metadata == {}
    announced = []
    while (raw := await bus.get(IDENTITY_INBOX)) is not None:
        announced.append(raw.envelope().open())
    assert [m.user_id for m in announced] == [a.user_id, b.user_id]


async def test_info_counts_the_users_tasks_by_status(parts) -> None:
    service, store, _, clock = parts
    user = await service.mint()
    for i, status in enumerate([TaskStatus.CREATED, TaskStatus.QUEUED, TaskStatus.COMPLETED, TaskStatus.COMPLETED]):
        await store.insert(
            Task(
                task_id=f"t{i}",
                user_id=user.user_id,
                task_type=TaskType.VIDEO_MERGE,
                status=status,
                created_at=clock.now(),
            )
        )
    await store.insert(Task(task_id="other", user_id="f" * 32, task_type=TaskType.VIDEO_MERGE, created_at=clock.now()))
    info = await service.info(user.user_id)
    assert info["stats"] == {
        "total": 4,
        "by_status": {"created": 1, "queued": 1, "completed": 2},
        "drafts": 1,
        "active": 1,
        "finished": 2,
    }


async def test_info_recreates_a_lost_record(parts) -> None:
    service, store, _, _ = parts
    info = await service.info("a" * 32)
    assert info["user_id"] == "a" * 32 and await store.get_user("a" * 32) is not None


async def test_seen_events_write_last_accessed_at_most_once_a_minute(parts) -> None:
    service, store, bus, clock = parts
    user = await service.mint()
    while await bus.get(IDENTITY_INBOX) is not None:
        pass
    sub = await subscribe(bus, service)
    start = clock.now()
    for seconds in (10, 30, 59, 61, 70):
        at = start + timedelta(seconds=seconds)
        await bus.publish(EVENTS, UserSeen.TYPE, Envelope.wrap(UserSeen(user_id=user.user_id, at=at)))
    await bus.drain()
    stored = await store.get_user(user.user_id)
    assert stored is not None and stored.last_accessed == start + timedelta(seconds=61)
    assert service.seen_writes == 1
    await sub.cancel()


async def test_identity_http_api_needs_the_token(parts) -> None:
    service, _, bus, _ = parts
    app = create_app(service, token=TOKEN, bus=bus)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://identity") as http:
        assert (await http.post("/internal/users")).status_code == 401
        wrong = await http.post("/internal/users", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and wrong.json()["error_code"] == "unauthorized"
        auth = {"Authorization": f"Bearer {TOKEN}"}
        minted = await http.post("/internal/users", headers=auth)
        assert minted.status_code == 201
        user_id = minted.json()["data"]["user_id"]
        info = await http.get(f"/internal/users/{user_id}", headers=auth)
        assert info.json()["data"]["stats"]["total"] == 0
        assert (await http.get("/internal/users/../x", headers=auth)).status_code in (404, 422)
        assert (await http.get("/internal/users/NOT-AN-ID", headers=auth)).status_code == 422
        assert (await http.get("/readyz")).json()["data"]["ready"] is True


async def test_the_gateway_clients_talk_to_identity_both_ways(parts) -> None:
    service, _, bus, _ = parts
    app = create_app(service, token=TOKEN, bus=bus)
    http_client = HttpIdentityClient("http://identity", TOKEN, transport=httpx.ASGITransport(app=app))
    for client in (http_client, InProcessIdentityClient(service)):
        user_id = await client.mint()
        info = await client.user_info(user_id)
        assert info.user_id == user_id and info.stats["total"] == 0
        assert await client.ping()
    await http_client.close()


def test_production_refuses_the_default_token() -> None:
    with pytest.raises(RuntimeError):
        IdentitySettings(environment="production")
    assert IdentitySettings(environment="production", identity_api_token="x" * 32).http_port == 8001
