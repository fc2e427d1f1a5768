"""Composition root of the single-process mode: every service on embedded adapters, one event loop.

Each service is built by its own `build(settings, adapters)`, the one its main uses, with its own
Settings read from the same environment; this module adds only what the mode decides (plan.py):
embedded adapters under MEDIACRAFT_DATA_DIR shared by all (in-process bus, SQLite store, a local
object directory), secrets the environment does not set generated there once (local_secrets.py),
the gateway (API and web UI) on MEDIACRAFT_HTTP_PORT, identity called
in-process instead of over HTTP, and several workers per pool whose CPU work runs in ffmpeg
subprocesses and GIL-free OpenCV calls. Ctrl-C stops taking HTTP requests and dispatching, lets
running jobs finish within MEDIACRAFT_DRAIN_SECONDS, then closes everything. The in-process bus
keeps nothing across restarts: the scheduler rebuilds from the store on start, and tasks that
were running are retried as lost.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType
from typing import Any

from mediacraft.cleanup import main as cleanup
from mediacraft.cleanup.settings import Settings as CleanupSettings
from mediacraft.gateway import main as gateway
from mediacraft.gateway.identity_client import InProcessIdentityClient
from mediacraft.gateway.settings import GatewaySettings
from mediacraft.identity import main as identity
from mediacraft.identity.settings import IdentitySettings
from mediacraft.scheduler import main as scheduler
from mediacraft.scheduler.settings import Settings as SchedulerSettings
from mediacraft.shared import eventloop
from mediacraft.shared.adapters.bundle import Adapters
from mediacraft.shared.logging import configure_logging, get_logger
from mediacraft.shared.process import Process, Together
from mediacraft.shared.published_secrets import refused_at_start
from mediacraft.shared.settings import BaseServiceSettings
from mediacraft.shared.tracing import configure_tracing
from mediacraft.shared.worker.serve import WorkerPool
from mediacraft.standalone.local_secrets import unset_secrets
from mediacraft.standalone.plan import pool_quota, settings_of
from mediacraft.standalone.settings import StandaloneSettings

log = get_logger("mediacraft.standalone")

# pool -> the worker service's main (`settings`, `build`); a pool whose service is not installed is left out
WORKERS = {
    "watermark": "mediacraft.worker_watermark.main",
    "merge": "mediacraft.worker_merge.main",
    "generate": "mediacraft.worker_generate.main",
}


def _worker_main(module: str) -> ModuleType | None:
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError:
        return None


class Standalone(Process):
    """Every service of the product over one set of embedded adapters; `start`/`stop` in order."""

    def __init__(self, settings: StandaloneSettings) -> None:
        self.settings = settings
        s = settings
        s.data_path.mkdir(parents=True, exist_ok=True)
        # the cookie key and identity token: the environment's, else generated and kept in the data dir
        generated = {name.removeprefix("MEDIACRAFT_").lower(): v for name, v in unset_secrets(s.data_path).items()}
        values: dict[str, Any] = {**s.adapter_urls(), "data_dir": str(s.data_path), **generated}
        shared = BaseServiceSettings(**values, retry_delays_ms=s.retry_delays_ms, delivery_limit=s.delivery_limit)
        adapters = Adapters(shared)  # one bus, one store, one object store for every service

        self.identity_settings = settings_of(IdentitySettings, values)
        self.identity = identity.build(self.identity_settings, adapters, http=False)  # called in-process

        counts = {"watermark": s.watermark_workers, "merge": s.merge_workers, "generate": s.generate_workers}
        configured = settings_of(SchedulerSettings, values).quota_per_pool
        # one process, one metrics port at most: MEDIACRAFT_METRICS_PORT is the gateway's here (the
        # scheduler's and the workers' settings read the same variable), so theirs stay off
        self.scheduler_settings = settings_of(
            SchedulerSettings, {**values, "quota_per_pool": pool_quota(configured, counts), "metrics_port": 0}
        )
        self.scheduler = scheduler.build(self.scheduler_settings, adapters)

        # one HTTP port in this mode: cleanup's metrics endpoint only when asked for
        self.cleanup_settings = settings_of(CleanupSettings, values, {"cleanup_metrics_port": 0})
        self.cleanup = cleanup.build(self.cleanup_settings, adapters)

        self.worker_settings: dict[str, BaseServiceSettings] = {}
        pools: list[WorkerPool] = []
        for pool, module in WORKERS.items():
            main = _worker_main(module)
            if main is None:
                log.warning("pool not installed", pool=pool)
                continue
            if counts[pool] <= 0:
                continue
            ws = settings_of(
                main.settings,
                {
                    **values,
                    "worker_id": f"standalone-{os.getpid()}-{pool}",
                    "shutdown_grace_seconds": s.drain_seconds,
                    "metrics_port": 0,  # the gateway's variable in this mode, as for the scheduler
                },
                {"work_dir": str(s.data_path / "work")},
            )
            self.worker_settings[pool] = ws
            pools.append(main.build(ws, adapters, replicas=counts[pool]))
        self.pools = pools
        self.workers = Together(pools)

        address = {"http_host": s.http_host, "http_port": s.http_port}
        # metrics port off in the single-process mode unless the environment asks for one
        self.gateway_settings = settings_of(GatewaySettings, {**values, **address}, {"metrics_port": 0})
        self.gateway = gateway.build(
            self.gateway_settings, adapters, identity=InProcessIdentityClient(self.identity.service)
        )
        self.app = self.gateway.app
        # started in this order, stopped in reverse: HTTP first, workers drain before the scheduler stops
        super().__init__([self.identity, self.scheduler, self.cleanup, self.workers, self.gateway], adapters)

    async def start(self) -> None:
        """Open the adapters, start every service, serve HTTP."""
        await super().start()
        log.info(
            "standalone started", data_dir=str(self.settings.data_path), url=f"http://{self.settings.http_host}:{self.settings.http_port}",
            workers=sum(len(pool.runtimes) for pool in self.pools),
        )  # fmt: skip

    async def stop(self) -> None:
        """Let running jobs finish within the drain time (else hand them back), then close all."""
        await super().stop()
        log.info("standalone stopped")


def run() -> None:
    """Entry point of `make run`, `python -m mediacraft.standalone` and `mediacraft-standalone`."""
    settings = StandaloneSettings()
    configure_logging(settings.log_level, json=settings.log_json, service=settings.service_name)
    configure_tracing(settings.service_name)
    with refused_at_start("standalone"):
        standalone = Standalone(settings)
    eventloop.run(standalone.run_until_signal())
