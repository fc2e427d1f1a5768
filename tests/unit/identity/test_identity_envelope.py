"""Every JSON answer of the identity service is the documented envelope (the gateway's form): `code`
is the HTTP status as an integer and failures carry a stable `error_code`. Each kind of answer is
provoked through the real routes, on a real SQLite file and the in-process bus."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from mediacraft.identity.api import create_app
from mediacraft.identity.service import IdentityService
from mediacraft.shared.adapters.bus.memory import MemoryBus
from mediacraft.shared.adapters.store.sqlite import SqliteStore
from mediacraft.shared.clock import FakeClock
from mediacraft.shared.topology import build_topology
from tests.fixtures.envelope import checked_envelope

TOKEN = "identity-envelope-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class Identity:
    def __init__(self, http: httpx.AsyncClient, store: SqliteStore, db: Path) -> None:
        self.http, self.store, self.db = http, store, db


@pytest.fixture
async def identity(tmp_path: Path) -> AsyncIterator[Identity]:
    clock = FakeClock()
    store = SqliteStore(tmp_path / "id.db", clock=clock, synchronous="NORMAL")
    bus = MemoryBus(topology=build_topology((1000,)), clock=clock)
    await store.start()
    await bus.start()
    app = create_app(IdentityService(users=store, tasks=store, bus=bus, clock=clock), token=TOKEN, bus=bus)
    # a 500 is also re-raised for the server to log: answer it as a server would, not raise it here
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://identity") as http:
        yield Identity(http, store, tmp_path / "id.db")
    await bus.close()
    await store.close()


def succeeded(response: httpx.Response, status: int) -> Any:
    doc = checked_envelope(response)
    assert doc["code"] == status and doc["success"] is True, doc
    return doc["data"]


def refused(response: httpx.Response, status: int, error_code: str) -> dict[str, Any]:
    doc = checked_envelope(response)
    assert (doc["code"], doc["error_code"], doc["success"]) == (status, error_code, False), doc
    return doc


async def test_successes_are_200_and_201(identity: Identity) -> None:
    user = succeeded(await identity.http.post("/internal/users", headers=AUTH), 201)
    info = succeeded(await identity.http.get(f"/internal/users/{user['user_id']}", headers=AUTH), 200)
    assert info["user_id"] == user["user_id"] and info["stats"]["total"] == 0
    assert succeeded(await identity.http.get("/healthz"), 200) == {"status": "alive"}
    assert succeeded(await identity.http.get("/readyz"), 200) == {"ready": True, "checks": {"store": True, "bus": True}}


async def test_request_ids_are_uuids_unless_the_caller_sent_one(identity: Identity) -> None:
    made = checked_envelope(await identity.http.get("/healthz"))["meta"]["request_id"]
    assert uuid.UUID(made).version == 4
    traced = checked_envelope(await identity.http.get("/healthz", headers={"X-Request-ID": "trace-7"}))
    assert traced["meta"]["request_id"] == "trace-7"


async def test_a_missing_or_wrong_token_is_401(identity: Identity) -> None:
    refused(await identity.http.post("/internal/users"), 401, "unauthorized")
    wrong = refused(
        await identity.http.post("/internal/users", headers={"Authorization": "Bearer nope"}), 401, "unauthorized"
    )
    assert wrong["message"] == "Missing or wrong bearer token"


async def test_a_malformed_user_id_is_422_and_unknown_routes_404_and_405(identity: Identity) -> None:
    refused(await identity.http.get("/internal/users/NOT-AN-ID", headers=AUTH), 422, "validation_error")
    refused(await identity.http.get("/internal/nothing", headers=AUTH), 404, "not_found")
    refused(await identity.http.get("/api/user/info"), 404, "not_found")
    wrong_method = await identity.http.get("/internal/users", headers=AUTH)
    refused(wrong_method, 405, "method_not_allowed")
    assert wrong_method.headers["allow"] == "POST"


async def test_a_store_that_cannot_answer_makes_readyz_503(identity: Identity) -> None:
    await identity.store.close()
    not_ready = refused(await identity.http.get("/readyz"), 503, "unavailable")
    assert not_ready["data"] == {"ready": False, "checks": {"store": False, "bus": True}}


async def test_a_store_that_fails_is_a_500_in_the_envelope(identity: Identity) -> None:
    def drop_users() -> None:  # the database loses its users table under the running service
        with sqlite3.connect(identity.db) as db:
            db.execute("DROP TABLE users")

    await asyncio.to_thread(drop_users)
    broken = refused(await identity.http.post("/internal/users", headers=AUTH), 500, "internal_error")
    assert broken["message"] == "Something went wrong on our side" and broken["data"] is None


async def test_a_body_over_the_limit_is_413_and_mints_nobody(identity: Identity) -> None:
    declared = await identity.http.post("/internal/users", headers=AUTH, content=b"x" * (64 * 1024))
    refused(declared, 413, "payload_too_large")

    async def chunked() -> AsyncIterator[bytes]:
        for _ in range(64):
            yield b"x" * 1024

    streamed = await identity.http.post("/internal/users", headers=AUTH, content=chunked())
    refused(streamed, 413, "payload_too_large")
    rows = sqlite3.connect(identity.db).execute("SELECT count(*) FROM users").fetchone()[0]
    assert rows == 0
