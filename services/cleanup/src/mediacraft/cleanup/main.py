"""Wiring only: settings, adapters, the service, and the command line.

`python -m mediacraft.cleanup` runs a pass every interval until SIGTERM or SIGINT, serving
Prometheus metrics on MEDIACRAFT_CLEANUP_METRICS_PORT. `python -m mediacraft.cleanup --once
[--dry-run] [--json]` runs one pass and exits (a Kubernetes CronJob): status 0 when the pass
completed or another replica was running one, 1 when it failed or lost the lease.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from typing import Any

from mediacraft.cleanup.metrics import CleanupMetrics
from mediacraft.cleanup.report import Outcome
from mediacraft.cleanup.service import CleanupService
from mediacraft.cleanup.settings import Settings
from mediacraft.shared import eventloop
from mediacraft.shared.adapters.factory import make_bus, make_object_store, make_store
from mediacraft.shared.adapters.startup import start_with_retries
from mediacraft.shared.clock import Clock, SystemClock
from mediacraft.shared.logging import configure_logging, get_logger
from mediacraft.shared.topology import build_topology

log = get_logger("mediacraft.cleanup.main")

BUS_START_ATTEMPTS = 3  # events only inform live views: cleanup goes on without them


async def open_bus(settings: Settings, clock: Clock) -> Any | None:
    """The bus with the shared topology, or None (and a warning) when it cannot be reached."""
    topology = build_topology(tuple(settings.retry_delays_ms), settings.delivery_limit)
    bus = make_bus(settings.bus_url, topology=topology, clock=clock)
    try:
        await start_with_retries(bus, "bus", BUS_START_ATTEMPTS)
    except Exception as exc:
        log.warning("cleanup.running_without_events", error=repr(exc))
        return None
    return bus


async def run(settings: Settings, *, once: bool, dry_run: bool | None, as_json: bool) -> int:
    """Run one pass or the loop; returns the exit status."""
    clock = SystemClock()
    store = make_store(settings.store_url, clock=clock)
    objects = make_object_store(settings.object_store_url)
    await start_with_retries(store, "store")
    await start_with_retries(objects, "object store")
    bus = await open_bus(settings, clock)
    metrics = CleanupMetrics(top_users=settings.storage_top_users)
    service = CleanupService(settings=settings, store=store, objects=objects, bus=bus, clock=clock, metrics=metrics)
    try:
        if once:
            try:
                report = await service.run_once(dry_run=dry_run)
            except Exception:  # the store or the object store failed mid-pass: the CronJob run failed
                log.exception("cleanup.pass_failed", holder=service.holder)
                return 1
            if as_json:
                sys.stdout.write(json.dumps(report.to_json(), indent=2) + "\n")
            return 0 if report.outcome in (Outcome.COMPLETED, Outcome.SKIPPED) else 1
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve(service, settings, metrics, stop)
        return 0
    finally:
        if bus is not None:
            await bus.close()
        await objects.close()
        await store.close()


async def serve(service: CleanupService, settings: Settings, metrics: CleanupMetrics, stop: asyncio.Event) -> None:
    """Passes every interval until `stop` is set, with the metrics endpoint up."""
    server = None
    if settings.cleanup_metrics_port:
        from prometheus_client import start_http_server

        # its own thread: a scrape never waits for the event loop, even in the middle of a pass
        server, _ = start_http_server(
            settings.cleanup_metrics_port, addr=settings.cleanup_metrics_host, registry=metrics.registry
        )
    try:
        await service.run_forever(stop)
    finally:
        log.info("cleanup.stopping")
        if server is not None:
            server.shutdown()
            server.server_close()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="mediacraft-cleanup",
        description="Expire old files and drafts, remove orphans and stale uploads, measure storage.",
    )
    parser.add_argument("--once", action="store_true", help="run one pass and exit (for a CronJob)")
    parser.add_argument(
        "--dry-run", action="store_true", default=None,
        help="list what would be removed, remove nothing (default: MEDIACRAFT_CLEANUP_DRY_RUN)",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="with --once, print the pass report as JSON")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Entry point of `python -m mediacraft.cleanup` and the `mediacraft-cleanup` script."""
    args = parse_args(argv)
    settings = Settings()
    if args.dry_run:
        settings = settings.model_copy(update={"cleanup_dry_run": True})
    configure_logging(settings.log_level, json=settings.log_json, service=settings.service_name)
    raise SystemExit(eventloop.run(run(settings, once=args.once, dry_run=args.dry_run, as_json=args.json)))
