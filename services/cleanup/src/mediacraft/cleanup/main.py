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
import sys

from mediacraft.cleanup.metrics import CleanupMetrics
from mediacraft.cleanup.report import Outcome
from mediacraft.cleanup.service import CleanupService
from mediacraft.cleanup.settings import Settings
from mediacraft.shared import eventloop
from mediacraft.shared.adapters.bundle import Adapters
from mediacraft.shared.logging import configure_logging, get_logger
from mediacraft.shared.metrics_server import MetricsServer
from mediacraft.shared.process import BasePart, run_until_signal
from mediacraft.shared.tracing import configure_tracing

log = get_logger("mediacraft.cleanup.main")


class Cleanup(BasePart):
    """A pass every interval from `start` until held, with the metrics endpoint up meanwhile."""

    def __init__(self, settings: Settings, service: CleanupService, adapters: Adapters) -> None:
        self.settings = settings
        self.service = service
        self.adapters = adapters
        self._stop = asyncio.Event()
        self._loop: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start the loop (without events when the bus could not be reached: they only inform live views)."""
        if not self.adapters.available("bus"):
            self.service.bus = None
        self._stop = asyncio.Event()
        self._loop = asyncio.ensure_future(serve(self.service, self.settings, self.service.metrics, self._stop))

    def hold(self) -> None:
        """Start no new pass."""
        self._stop.set()

    async def stop(self) -> None:
        """Let a pass in progress finish."""
        self.hold()
        if self._loop is not None:
            await self._loop

    async def ended(self) -> None:
        """Return when the loop ended without being asked (it failed)."""
        if self._loop is not None:
            try:
                await asyncio.shield(self._loop)
            except Exception:
                log.exception("cleanup.loop_failed")
                return
        if not self._stop.is_set():
            return
        await super().ended()


def build(settings: Settings, adapters: Adapters) -> Cleanup:
    """Cleanup over `adapters` (its own process and the single-process mode both call this)."""
    metrics = CleanupMetrics(top_users=settings.storage_top_users)
    service = CleanupService(
        settings=settings, store=adapters.store, objects=adapters.objects, bus=adapters.bus, clock=adapters.clock,
        metrics=metrics,
    )  # fmt: skip
    return Cleanup(settings, service, adapters)


def adapters_of(settings: Settings) -> Adapters:
    """Adapters of a cleanup process: it goes on without the bus (events only inform live views)."""
    return Adapters(settings, optional=frozenset({"bus"}))


async def run_once(settings: Settings, *, dry_run: bool | None, as_json: bool) -> int:
    """One pass (a CronJob run); returns the exit status."""
    adapters = adapters_of(settings)
    cleanup = build(settings, adapters)
    await adapters.start()
    try:
        if not adapters.available("bus"):
            cleanup.service.bus = None
        try:
            report = await cleanup.service.run_once(dry_run=dry_run)
        except Exception:  # the store or the object store failed mid-pass: the CronJob run failed
            log.exception("cleanup.pass_failed", holder=cleanup.service.holder)
            return 1
        if as_json:
            sys.stdout.write(json.dumps(report.to_json(), indent=2) + "\n")
        return 0 if report.outcome in (Outcome.COMPLETED, Outcome.SKIPPED) else 1
    finally:
        await adapters.close()


async def serve(service: CleanupService, settings: Settings, metrics: CleanupMetrics, stop: asyncio.Event) -> None:
    """Passes every interval until `stop` is set, with the metrics endpoint up."""
    server = MetricsServer(metrics.registry, host=settings.cleanup_metrics_host, port=settings.cleanup_metrics_port)
    server.start()
    try:
        await service.run_forever(stop)
    finally:
        log.info("cleanup.stopping")
        server.stop()


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
    configure_tracing(settings.service_name)
    if args.once:
        raise SystemExit(eventloop.run(run_once(settings, dry_run=args.dry_run, as_json=args.json)))
    adapters = adapters_of(settings)
    eventloop.run(run_until_signal([build(settings, adapters)], adapters))
