"""How every process runs its parts: start in order, hold all, stop in reverse, adapters last; a
signal, or a part ending on its own, begins the stop; a stop during the start cuts it short; an
HTTP server part that cannot serve fails its start."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from mediacraft.shared.adapters.bundle import Adapters
from mediacraft.shared.http_server import HttpServer
from mediacraft.shared.ports.bus import BusUnavailable
from mediacraft.shared.process import BasePart, Process, Together, run_until_signal
from mediacraft.shared.settings import BaseServiceSettings


class Recording(BasePart):
    """A part that writes what happens to it into a shared journal."""

    def __init__(self, name: str, journal: list[str]) -> None:
        self.name = name
        self.journal = journal
        self.started = asyncio.Event()
        self.end = asyncio.Event()

    async def start(self) -> None:
        self.journal.append(f"start {self.name}")
        self.started.set()

    def hold(self) -> None:
        self.journal.append(f"hold {self.name}")

    async def stop(self) -> None:
        self.journal.append(f"stop {self.name}")

    async def ended(self) -> None:
        await self.end.wait()


def embedded(tmp_path: Path) -> Adapters:
    return Adapters(BaseServiceSettings(
        bus_url="memory://", store_url=f"sqlite:///{tmp_path}/db.sqlite", object_store_url=f"file://{tmp_path}/objects",
    ))  # fmt: skip


async def test_a_signal_holds_every_part_then_stops_them_in_reverse_and_closes_the_adapters(tmp_path: Path) -> None:
    journal: list[str] = []
    parts = [Recording("a", journal), Recording("b", journal), Recording("c", journal)]
    adapters = embedded(tmp_path)
    store = adapters.store  # made now: run_until_signal starts and closes it
    handler_before = signal.getsignal(signal.SIGTERM)
    running = asyncio.ensure_future(run_until_signal(parts, adapters))
    await asyncio.wait_for(parts[-1].started.wait(), 10)
    assert await store.ping()
    os.kill(os.getpid(), signal.SIGTERM)  # handled by the process's loop, as `kill` or a pod stop would
    await asyncio.wait_for(running, 10)
    assert journal == ["start a", "start b", "start c", "hold a", "hold b", "hold c", "stop c", "stop b", "stop a"]
    assert not await store.ping()  # closed after the parts
    assert signal.getsignal(signal.SIGTERM) == handler_before  # the process's handlers are gone


async def test_a_part_that_ends_on_its_own_stops_the_process(tmp_path: Path) -> None:
    journal: list[str] = []
    first, second = Recording("first", journal), Recording("second", journal)
    running = asyncio.ensure_future(run_until_signal([first, second], embedded(tmp_path)))
    await asyncio.wait_for(second.started.wait(), 10)
    first.end.set()
    await asyncio.wait_for(running, 10)
    assert journal[-2:] == ["stop second", "stop first"]


async def test_a_stop_during_the_start_stops_what_started_and_skips_the_rest(tmp_path: Path) -> None:
    journal: list[str] = []

    class Slow(Recording):
        async def start(self) -> None:
            self.journal.append(f"start {self.name}")
            self.started.set()
            await asyncio.Event().wait()  # a broker that never comes up

    quick, slow, never = Recording("quick", journal), Slow("slow", journal), Recording("never", journal)
    running = asyncio.ensure_future(run_until_signal([quick, slow, never], embedded(tmp_path)))
    await asyncio.wait_for(slow.started.wait(), 10)
    os.kill(os.getpid(), signal.SIGINT)
    await asyncio.wait_for(running, 10)
    assert journal == ["start quick", "start slow", "hold quick", "stop quick"]


async def test_parts_together_stop_at_once() -> None:
    both_stopping = asyncio.Barrier(2)

    class Draining(BasePart):
        async def stop(self) -> None:
            await both_stopping.wait()  # returns only when the other one is stopping too

    await asyncio.wait_for(Together([Draining(), Draining()]).stop(), 10)


async def test_a_part_failing_to_stop_does_not_keep_the_others_running(tmp_path: Path) -> None:
    journal: list[str] = []

    class Broken(Recording):
        async def stop(self) -> None:
            raise RuntimeError("cannot stop")

    process = Process([Recording("a", journal), Broken("b", journal)], embedded(tmp_path))
    await process.start()
    await process.stop()
    assert journal[-1] == "stop a"


def test_a_process_makes_only_the_adapters_its_services_ask_for(tmp_path: Path) -> None:
    adapters = embedded(tmp_path)
    assert adapters.made() == []
    bus, objects = adapters.bus, adapters.objects
    assert adapters.bus is bus and adapters.objects is objects  # made once
    assert [name for name, _ in adapters.made()] == ["object store", "bus"]


async def test_an_optional_adapter_that_cannot_start_is_left_out(tmp_path: Path) -> None:
    settings = BaseServiceSettings(
        bus_url="amqp://guest:guest@127.0.0.1:1/", store_url=f"sqlite:///{tmp_path}/db.sqlite"
    )
    adapters = Adapters(settings, optional=frozenset({"bus"}))
    assert adapters.bus is not None and adapters.store is not None  # asked for, so made and started
    await adapters.start(attempts=1)
    try:
        assert not adapters.available("bus") and adapters.available("store")
        assert await adapters.store.ping()
    finally:
        await adapters.close()
    with pytest.raises(BusUnavailable):
        await Adapters(settings).bus.start()  # not optional: the failure is the caller's


async def test_an_http_server_that_cannot_bind_fails_its_start() -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        server = HttpServer(FastAPI(), host="127.0.0.1", port=taken.getsockname()[1], graceful_seconds=1)
        with pytest.raises(RuntimeError, match="did not start"):
            await asyncio.wait_for(server.start(), 10)
    finally:
        taken.close()


async def test_an_http_server_whose_app_fails_to_start_fails_its_start() -> None:
    @contextlib.asynccontextmanager
    async def broken(_app: FastAPI) -> AsyncIterator[None]:
        raise RuntimeError("no database")
        yield  # type: ignore[unreachable]  # the yield makes this function a lifespan generator

    server = HttpServer(FastAPI(lifespan=broken), host="127.0.0.1", port=0, graceful_seconds=1)
    with pytest.raises(RuntimeError, match="did not start"):
        await asyncio.wait_for(server.start(), 10)


async def test_an_http_server_serves_from_start_until_stop() -> None:
    app = FastAPI()

    @app.get("/ping")
    async def ping() -> dict[str, str]:
        return {"pong": "yes"}

    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    server = HttpServer(app, host="127.0.0.1", port=0, graceful_seconds=1)
    server.sockets = [listening]
    await asyncio.wait_for(server.start(), 10)
    url = f"http://127.0.0.1:{listening.getsockname()[1]}/ping"
    async with httpx.AsyncClient() as client:
        assert (await client.get(url)).json() == {"pong": "yes"}
        server.hold()
        await asyncio.wait_for(server.stop(), 10)
        with pytest.raises(httpx.TransportError):
            await client.get(url)
