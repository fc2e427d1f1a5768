"""Wiring only: settings, adapters, the service, and the dead-letter commands.

`python -m mediacraft.scheduler` runs the scheduler until SIGTERM or SIGINT;
`python -m mediacraft.scheduler dead-letters list|replay [--id MESSAGE_ID ...]` inspects and
replays parked messages.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from typing import Any

from mediacraft.scheduler.dead_letters import list_parked, replay
from mediacraft.scheduler.service import SchedulerService
from mediacraft.scheduler.settings import Settings
from mediacraft.shared import eventloop
from mediacraft.shared.adapters.factory import make_bus, make_store
from mediacraft.shared.adapters.startup import start_with_retries
from mediacraft.shared.clock import SystemClock
from mediacraft.shared.logging import configure_logging, get_logger
from mediacraft.shared.topology import build_topology

log = get_logger("mediacraft.scheduler.main")


def build_bus(settings: Settings) -> Any:
    """The bus of the configured URL with the topology of the configured delays."""
    topology = build_topology(tuple(settings.retry_delays_ms), settings.delivery_limit)
    return make_bus(settings.bus_url, topology=topology, clock=SystemClock())


async def serve(settings: Settings) -> None:
    """Run the scheduler until a stop signal."""
    store = make_store(settings.store_url)
    bus = build_bus(settings)
    await start_with_retries(store, "store")
    await start_with_retries(bus, "bus")
    service = SchedulerService(settings=settings, bus=bus, store=store, clock=SystemClock())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await service.start()
    try:
        await stop.wait()
    finally:
        log.info("scheduler.stopping")
        await service.stop()
        await bus.close()
        await store.close()


async def dead_letters(settings: Settings, args: argparse.Namespace) -> int:
    """The dead-letters subcommand; returns the exit status."""
    bus = build_bus(settings)
    await bus.start()
    try:
        if args.action == "list":
            parked = await list_parked(bus, limit=args.limit)
            if args.json:
                print(json.dumps([_as_json(p) for p in parked], indent=2))
            else:
                print("message_id\ttype\ttask_id\tqueue\tdeaths\treason")
                for p in parked:
                    print(p.line())
                print(f"{len(parked)} parked message(s)", file=sys.stderr)
            return 0
        report = await replay(bus, message_ids=args.ids or None, limit=args.limit)
        for p in report.replayed:
            print(f"replayed\t{p.line()}")
        for p in report.unreplayable:
            print(f"kept (no origin queue)\t{p.line()}")
        print(f"{len(report.replayed)} replayed ({len(report.jobs_restarted)} job(s) restarted as task retries),"
              f" {report.kept + len(report.unreplayable)} left parked", file=sys.stderr)
        return 0 if not report.unreplayable else 1
    finally:
        await bus.close()


def _as_json(p: Any) -> dict[str, Any]:
    return {"message_id": p.message_id, "type": p.type, "task_id": p.task_id, "queue": p.queue,
            "deaths": p.deaths, "reason": p.reason}


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
    if args.command == "dead-letters":
        raise SystemExit(eventloop.run(dead_letters(settings, args)))
    eventloop.run(serve(settings))


def dead_letters_main() -> None:
    """Entry point of the `mediacraft-dead-letters` script."""
    main(["dead-letters", *sys.argv[1:]])
