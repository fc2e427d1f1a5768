"""Process entry for a worker service: build adapters from settings, run until SIGTERM."""

from __future__ import annotations

import asyncio
import signal

from mediacraft.shared import eventloop
from mediacraft.shared.adapters.factory import make_bus, make_object_store
from mediacraft.shared.logging import configure_logging, get_logger
from mediacraft.shared.topology import build_topology
from mediacraft.shared.worker.contract import Processor
from mediacraft.shared.worker.runtime import WorkerRuntime
from mediacraft.shared.worker.settings import WorkerSettings

log = get_logger(__name__)


async def serve(pool: str, processor: Processor, settings: WorkerSettings) -> None:
    """Run one worker of `pool` until SIGTERM or SIGINT, then drain or hand back the current job."""
    bus = make_bus(settings.bus_url, topology=build_topology(settings.retry_delays_ms, settings.delivery_limit))
    objects = make_object_store(settings.object_store_url)
    await bus.start()
    await objects.start()
    runtime = WorkerRuntime(pool=pool, processor=processor, bus=bus, objects=objects, settings=settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await runtime.start()
        await stop.wait()
        log.info("stopping: no new jobs", pool=pool)
        await runtime.stop()
    finally:
        await bus.close()
        await objects.close()


def main(pool: str, processor: Processor) -> None:
    """Console-script body shared by the worker services."""
    settings = WorkerSettings(service_name=f"worker-{pool}")
    configure_logging(settings.log_level, json=settings.log_json, service=settings.service_name)
    eventloop.run(serve(pool, processor, settings))
