"""Wiring only: settings, adapters, the service, and the dead-letter commands.

`python -m mediacraft.scheduler` runs the scheduler until SIGTERM or SIGINT;
`python -m mediacraft.scheduler dead-letters list|replay [--id MESSAGE_ID ...]` inspects and
replays parked messages.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, TypeGuard

from mediacraft.scheduler.dead_letters import Parked, RawBus, list_parked, replay
from mediacraft.scheduler.service import SchedulerService
from mediacraft.scheduler.settings import Settings
from mediacraft.shared import eventloop
from mediacraft.shared.adapters.bundle import Adapters
from mediacraft.shared.logging import configure_logging, get_logger
from mediacraft.shared.metrics_server import MetricsServer
from mediacraft.shared.ports.bus import Bus
from mediacraft.shared.process import BasePart, run_until_signal
from mediacraft.shared.tracing import configure_tracing

log = get_logger("mediacraft.scheduler.main")


class Scheduler(BasePart):
    """The scheduler service as a process part: dispatches nothing new once held; its Prometheus
    metrics on a port of their own (`metrics_port`, 0: none)."""

    def __init__(self, settings: Settings, service: SchedulerService) -> None:
        self.settings = settings
        self.service = service
        self.metrics = MetricsServer(service.metrics.registry, host=settings.metrics_host, port=settings.metrics_port)

    async def start(self) -> None:
        """Serve the metrics, then rebuild from the store and consume the inbox."""
        self.metrics.start()  # a taken port stops the start before any message is taken
        try:
            await self.service.start()
        except BaseException:
            self.metrics.stop()
            raise

    def hold(self) -> None:
        """Start no more tasks while the process drains (running ones are still recorded)."""
        self.service.hold_dispatch()

    async def stop(self) -> None:
        """Stop timers and consumers."""
        log.info("scheduler.stopping")
        try:
            await self.service.stop()
        finally:
            self.metrics.stop()


def build(settings: Settings, adapters: Adapters) -> Scheduler:
    """The scheduler over `adapters` (its own process and the single-process mode both call this)."""
    service = SchedulerService(settings=settings, bus=adapters.bus, store=adapters.store, clock=adapters.clock)
    return Scheduler(settings, service)


async def dead_letters(settings: Settings, args: argparse.Namespace) -> int:
    """The dead-letters subcommand; returns the exit status."""
    bus = Adapters(settings).bus
    raw: Bus = bus
    if not _reads_raw(raw):
        raise TypeError(f"{type(bus).__name__} cannot read parked messages")
    await bus.start()
    try:
        if args.action == "list":
            parked = await list_parked(raw, limit=args.limit)
            if args.json:
                print(json.dumps([_as_json(p) for p in parked], indent=2))
            else:
                print("message_id\ttype\ttask_id\tqueue\tdeaths\treason")
                for p in parked:
                    print(p.line())
                print(f"{len(parked)} parked message(s)", file=sys.stderr)
            return 0
        report = await replay(raw, message_ids=args.ids or None, limit=args.limit)
        for p in report.replayed:
            print(f"replayed\t{p.line()}")
        for p in report.unreplayable:
            print(f"kept (no origin queue)\t{p.line()}")
        print(
            f"{len(report.replayed)} replayed ({len(report.jobs_restarted)} job(s) restarted as task retries),"
            f" {report.kept + len(report.unreplayable)} left parked",
            file=sys.stderr,
        )
        return 0 if not report.unreplayable else 1
    finally:
        await bus.close()


def _reads_raw(bus: Bus) -> TypeGuard[RawBus]:
    """Both bus adapters also offer what the dead-letter tool needs beside the port."""
    return callable(getattr(bus, "get", None)) and callable(getattr(bus, "publish_raw", None))


def _as_json(p: Parked) -> dict[str, Any]:
    return {
        "message_id": p.message_id,
        "type": p.type,
        "task_id": p.task_id,
        "queue": p.queue,
        "deaths": p.deaths,
        "reason": p.reason,
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="mediacraft-scheduler", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("run", help="run the scheduler (the default)")
    dead = commands.add_parser("dead-letters", help="inspect or replay parked messages")
    dead.add_argument("action", choices=("list", "replay"))
    dead.add_argument("--id", dest="ids", action="append", help="replay only this message id (repeatable)")
    dead.add_argument("--limit", type=int, default=1000, help="look at most at this many messages")
    dead.add_argument("--json", action="store_true", help="list as JSON")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Entry point of `python -m mediacraft.scheduler` and the `mediacraft-scheduler` script."""
    args = parse_args(argv)
    settings = Settings()
    configure_logging(settings.log_level, json=settings.log_json, service=settings.service_name)
    configure_tracing(settings.service_name)
    if args.command == "dead-letters":
        raise SystemExit(eventloop.run(dead_letters(settings, args)))
    adapters = Adapters(settings)
    eventloop.run(run_until_signal([build(settings, adapters)], adapters))


def dead_letters_main() -> None:
    """Entry point of the `mediacraft-dead-letters` script."""
    main(["dead-letters", *sys.argv[1:]])
