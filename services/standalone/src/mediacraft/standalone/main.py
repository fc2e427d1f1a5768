"""Composition root of the single-process mode: every service on embedded adapters, one event loop.

In-process bus, SQLite store and a local object directory under MEDIACRAFT_DATA_DIR; the gateway
(API and web UI) on MEDIACRAFT_HTTP_PORT; identity called in-process; the scheduler; the cleanup loop; one worker
runtime per pool whose CPU work runs in ffmpeg subprocesses and GIL-free OpenCV calls. Ctrl-C
stops taking HTTP requests, lets running jobs finish for a while, then closes everything. The
in-process bus keeps nothing across restarts: the scheduler rebuilds from the store on start, and
tasks that were running are retried as lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import signal
from dataclasses import dataclass, field
from typing import Any, Callable

import uvicorn

from mediacraft.cleanup.service import CleanupService
from mediacraft.cleanup.settings import Settings as CleanupSettings
from mediacraft.gateway.app import create_app
from mediacraft.gateway.identity_client import InProcessIdentityClient
from mediacraft.gateway.settings import GatewaySettings
from mediacraft.identity.handlers import subscribe as subscribe_identity
from mediacraft.identity.service import IdentityService
from mediacraft.scheduler.service import SchedulerService
from mediacraft.scheduler.settings import Settings as SchedulerSettings
from mediacraft.shared import eventloop
from mediacraft.shared.adapters.factory import make_bus, make_object_store, make_store
from mediacraft.shared.clock import SystemClock
from mediacraft.shared.logging import configure_logging, get_logger
from mediacraft.shared.topology import build_topology
from mediacraft.shared.worker.runtime import WorkerRuntime
from mediacraft.shared.worker.settings import WorkerSettings
from mediacraft.standalone.settings import StandaloneSettings

log = get_logger("mediacraft.standalone")

# pool -> module with `process(ctx)`; a pool whose service is not installed is left out
PROCESSORS = {
    "watermark": "mediacraft.worker_watermark.processor",
    "merge": "mediacraft.worker_merge.processor",
    "generate": "mediacraft.worker_generate.processor",
}


def _processor(module: str) -> Callable[..., Any] | None:
    try:
        return importlib.import_module(module).process  # type: ignore[no-any-return]
    except ModuleNotFoundError:
        return None


@dataclass
class Standalone:
    """Everything the single process runs, built from settings; `start`/`stop` in order."""

    settings: StandaloneSettings
    clock: SystemClock = field(default_factory=SystemClock)

    def __post_init__(self) -> None:
        s = self.settings
        urls = s.adapter_urls()
        s.data_path.mkdir(parents=True, exist_ok=True)
        overrides: dict[str, Any] = {**urls, "data_dir": str(s.data_path)}
        counts = {"watermark": s.watermark_workers, "merge": s.merge_workers, "generate": s.generate_workers}
        # never dispatch more jobs to a pool than it has workers: a task dispatched to a busy pool
        # would show as processing while it only waits in the pool's queue for a worker
        configured = SchedulerSettings(**overrides).quota_per_pool
        pool_quota = {pool: min(configured.get(pool, n), n) for pool, n in counts.items() if n > 0}
        self.scheduler_settings = SchedulerSettings(**overrides, quota_per_pool=pool_quota)
        self.gateway_settings = GatewaySettings(**overrides, http_host=s.http_host, http_port=s.http_port)
        self.worker_settings = WorkerSettings(**overrides, work_dir=str(s.data_path / "work"))
        topology = build_topology(s.retry_delays_ms, s.delivery_limit)
        self.bus = make_bus(urls["bus_url"], topology=topology, clock=self.clock)
        self.store = make_store(urls["store_url"])
        self.objects = make_object_store(urls["object_store_url"])
        self.identity = IdentityService(users=self.store, tasks=self.store, bus=self.bus, clock=self.clock)
        self.scheduler = SchedulerService(settings=self.scheduler_settings, bus=self.bus, store=self.store, clock=self.clock)
        self.workers: list[WorkerRuntime] = []
        for pool, module in PROCESSORS.items():
            process = _processor(module)
            if process is None:
                log.warning("pool not installed", pool=pool)
                continue
            for n in range(counts[pool]):
                ws = self.worker_settings.model_copy(update={"worker_id": f"standalone-{os.getpid()}-{pool}-{n}"})
                self.workers.append(WorkerRuntime(pool=pool, processor=process, bus=self.bus, objects=self.objects, settings=ws))
        self.app = create_app(
            self.gateway_settings,
            store=self.store,
            objects=self.objects,
            bus=self.bus,
            identity=InProcessIdentityClient(self.identity),
            clock=self.clock,
            manage_adapters=False,
        )
        self.cleanup = CleanupService(
            settings=CleanupSettings(**overrides), store=self.store, objects=self.objects,
            clock=self.clock, bus=self.bus,
        )
        self._identity_sub: Any = None
        self._cleanup_stop = asyncio.Event()
        self._cleanup_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Open the adapters, then start identity, scheduler and workers (the gateway is served after)."""
        await self.store.start()
        await self.objects.start()
        await self.bus.start()
        self._identity_sub = await subscribe_identity(self.bus, self.identity)
        await self.scheduler.start()
        for worker in self.workers:
            await worker.start()
        self._cleanup_task = asyncio.create_task(self.cleanup.run_forever(self._cleanup_stop))
        log.info("standalone started", data_dir=str(self.settings.data_path), workers=len(self.workers))

    async def stop(self) -> None:
        """Let running jobs finish within the drain time (else hand them back), then close all."""
        self._cleanup_stop.set()
        # nothing new starts while the workers drain: a job dispatched now would be lost with
        # the in-process bus, and its task taken for a lost run after the restart
        self.scheduler.hold_dispatch()
        await asyncio.gather(*(w.stop(grace=self.settings.drain_seconds) for w in self.workers))
        if self._cleanup_task is not None:
            await self._cleanup_task
        await self.scheduler.stop()
        if self._identity_sub is not None:
            await self._identity_sub.cancel()
        await self.bus.close()
        await self.objects.close()
        await self.store.close()
        log.info("standalone stopped")

    def _close_streams(self) -> None:
        """End open live-progress streams so the HTTP server can stop without waiting on them."""
        self._closing = asyncio.ensure_future(self.app.state.ctx.hub.close())

    async def serve(self) -> None:
        """Run until SIGINT/SIGTERM (uvicorn handles the signals), then drain."""
        await self.start()
        config = uvicorn.Config(
            self.app, host=self.settings.http_host, port=self.settings.http_port,
            log_config=None, access_log=False, lifespan="on", timeout_graceful_shutdown=5,
        )
        server = _Server(config, on_exit=self._close_streams)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, server.request_exit)
        try:
            await server.serve()
        finally:
            await self.stop()


class _Server(uvicorn.Server):
    """uvicorn re-raises the signal it caught once it has stopped, which would cut the drain
    short; here the composition root owns the signals and asks the server to exit."""

    def __init__(self, config: uvicorn.Config, on_exit: Callable[[], None]) -> None:
        super().__init__(config)
        self.on_exit = on_exit

    @contextlib.contextmanager
    def capture_signals(self):  # type: ignore[no-untyped-def]
        yield

    def request_exit(self) -> None:
        if self.should_exit:
            self.force_exit = True  # a second Ctrl-C: stop waiting for open connections
        self.should_exit = True
        self.on_exit()


def run() -> None:
    """Entry point of `make run`, `python -m mediacraft.standalone` and `mediacraft-standalone`."""
    settings = StandaloneSettings()
    configure_logging(settings.log_level, json=settings.log_json, service=settings.service_name)
    eventloop.run(Standalone(settings).serve())
