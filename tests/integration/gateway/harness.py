"""A running gateway for API tests: the app wired with given adapters, identity in-process, served
by uvicorn on a free 127.0.0.1 port inside the test's event loop, driven through httpx."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from mediacraft.gateway.app import create_app
from mediacraft.gateway.context import GatewayContext
from mediacraft.gateway.identity_client import IdentityClient, InProcessIdentityClient
from mediacraft.gateway.settings import GatewaySettings
from mediacraft.identity.service import IdentityService
from mediacraft.shared.clock import SystemClock
from mediacraft.shared.messages import Envelope
from mediacraft.shared.ports.bus import Incoming
from mediacraft.shared.tasks import Task
from mediacraft.shared.topology import SCHEDULER_INBOX
from tests.fixtures.waiting import eventually

TEST_COOKIE_KEY = "test-cookie-key-0123456789abcdef"


class ShiftClock(SystemClock):
    """The real clock plus an offset a test can move forward (cookie expiry, rate refills)."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def now(self) -> datetime:
        return super().now() + self.offset

    def shift(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


def gateway_settings(tmp: Path, **overrides: Any) -> GatewaySettings:
    """Settings for tests: a temp cache, generous rate limits unless a test narrows them."""
    values: dict[str, Any] = {
        "environment": "test",
        "cookie_keys": TEST_COOKIE_KEY,
        "cache_dir": str(tmp / "cache"),
        "rate_user_burst": 10_000,
        "rate_ip_burst": 10_000,
        "rate_create_burst": 1_000,
        "new_identities_per_ip_burst": 1_000,
        "sse_heartbeat_seconds": 0.5,
        "max_upload_bytes": 4 * 1024 * 1024,
    }
    values.update(overrides)
    return GatewaySettings(**values)


@dataclass
class SchedulerInbox:
    """Stands in for the scheduler (another service): records what reaches scheduler.inbox."""

    messages: list[Envelope] = field(default_factory=list)

    async def handle(self, incoming: Incoming) -> None:
        self.messages.append(incoming.envelope)

    def types(self) -> list[str]:
        return [m.type for m in self.messages]


@dataclass
class Gateway:
    """A served gateway and what it runs on."""

    base_url: str
    ctx: GatewayContext
    store: Any
    objects: Any
    bus: Any
    identity: IdentityService
    clock: ShiftClock
    inbox: SchedulerInbox

    def client(self, **kwargs: Any) -> httpx.AsyncClient:
        """A new 'browser': its own cookie jar."""
        return httpx.AsyncClient(base_url=self.base_url, timeout=30.0, **kwargs)

    async def all_tasks(self) -> list[Task]:
        """Every task in the store, whoever owns it."""
        from mediacraft.shared.tasks import TaskStatus

        return await self.store.list_by_status(list(TaskStatus), limit=100_000)

    async def objects_under(self, prefix: str = "") -> list[str]:
        return [o.key async for o in self.objects.list(prefix)]

    def metric(self, name: str, **labels: str) -> float:
        value = self.ctx.metrics.registry.get_sample_value(name, labels or None)
        return value or 0.0


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@asynccontextmanager
async def serve_app(app: Any) -> AsyncIterator[str]:
    """Serve an ASGI app with uvicorn on a free 127.0.0.1 port in this event loop; yields its base URL."""
    sock = free_socket()
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="on", timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        deadline = asyncio.get_running_loop().time() + 10
        while not server.started:
            if task.done():
                task.result()
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError("the app did not start")
            await asyncio.sleep(0.01)
        host, port = sock.getsockname()
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


@asynccontextmanager
async def serve_gateway(
    settings: GatewaySettings,
    *,
    store: Any,
    objects: Any,
    bus: Any,
    clock: ShiftClock,
    identity_client: IdentityClient | None = None,
) -> AsyncIterator[Gateway]:
    """Start adapters, identity and the gateway; yield it served over HTTP; stop everything.

    The gateway calls identity in-process unless given another client (identity over HTTP)."""
    await store.start()
    await objects.start()
    await bus.start()
    inbox = SchedulerInbox()
    inbox_sub = await bus.consume(SCHEDULER_INBOX, inbox.handle, prefetch=100)
    identity = IdentityService(users=store, tasks=store, bus=bus, clock=clock)
    client = identity_client or InProcessIdentityClient(identity)
    app = create_app(settings, store=store, objects=objects, bus=bus, identity=client, clock=clock)
    try:
        async with serve_app(app) as base_url:
            yield Gateway(base_url, app.state.ctx, store, objects, bus, identity, clock, inbox)
    finally:
        await client.close()
        await inbox_sub.cancel()
        await bus.close()
        await objects.close()
        await store.close()


@dataclass(frozen=True)
class Snapshot:
    """What a refused request must not change: tasks, objects, open uploads, local files, counters."""

    tasks: dict[str, tuple[str, int, bool]]
    objects: tuple[str, ...]
    incomplete_uploads: int
    local_files: tuple[str, ...]
    counters: dict[str, float]


COUNTERS = (
    "mediacraft_gateway_tasks_created_total",
    "mediacraft_gateway_tasks_submitted_total",
    "mediacraft_gateway_upload_bytes_total",
    "mediacraft_gateway_duplicates_total",
)


async def snapshot(gw: Gateway) -> Snapshot:
    """The state of everything a request could create or leave behind."""
    tasks = {t.task_id: (t.status.value, t.version, t.hidden) for t in await gw.all_tasks()}
    cache_root = gw.ctx.cache.root
    local = tuple(sorted(str(p.relative_to(cache_root)) for p in cache_root.rglob("*") if p.is_file()))
    counters = {}
    for name in COUNTERS:
        total = 0.0
        for metric in gw.ctx.metrics.registry.collect():
            for sample in metric.samples:
                if sample.name == name:
                    total += sample.value
        counters[name] = total
    return Snapshot(
        tasks=tasks,
        objects=tuple(sorted(await gw.objects_under())),
        incomplete_uploads=len(await gw.objects.list_incomplete_uploads()),
        local_files=local,
        counters=counters,
    )


async def settled(gw: Gateway) -> None:
    """Wait until no upload is being received and background publishes are done."""
    await eventually(
        lambda: gw.metric("mediacraft_gateway_uploads_in_progress") == 0,
        timeout=5,
        interval=0.01,
        what="no upload in progress",
    )
    await gw.ctx.drain_background()
