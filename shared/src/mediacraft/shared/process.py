"""How every MediaCraft process runs: start its parts, wait for SIGTERM or SIGINT, stop cleanly.

Each service's `build(settings, adapters)` returns a `Part`; its main runs that one part with
`run_until_signal`, the single-process mode runs all of them with the same function and one set
of adapters, and the local stack runs each service's main as its own process. So a service starts
and stops the same way in every mode.

The stop has two steps. First every part is held (it takes no new work: the HTTP server stops
accepting, the scheduler dispatches nothing more, cleanup starts no new pass), so that nothing new
begins while the rest drains; then the parts stop in reverse start order (workers finish or hand
back their jobs before the scheduler that records the outcome stops), and the adapters close
last. A second signal holds them again, which cuts the waits that can be cut (open HTTP
connections).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Coroutine, Sequence
from typing import Any, Protocol

from mediacraft.shared.adapters.bundle import Adapters
from mediacraft.shared.logging import get_logger

log = get_logger("mediacraft.process")

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Part(Protocol):
    """A service, or a piece of one, that a process starts and stops."""

    async def start(self) -> None:
        """Begin work; return once started (raise when it cannot start)."""

    def hold(self) -> None:
        """Take no new work from now on (called on every part before any stops; again on a second signal)."""

    async def stop(self) -> None:
        """Finish or hand back work in hand, then release what `start` took."""

    async def ended(self) -> None:
        """Return when the part has ended on its own (its process then stops); most never do."""


class BasePart:
    """Defaults for parts that take no new work by themselves and never end on their own."""

    async def start(self) -> None:
        """Nothing to start."""

    def hold(self) -> None:
        """Nothing to hold."""

    async def stop(self) -> None:
        """Nothing to stop."""

    async def ended(self) -> None:
        """Never ends on its own."""
        await asyncio.Event().wait()


class Together(BasePart):
    """Parts started one after the other and stopped at once (a pool's workers drain in parallel)."""

    def __init__(self, parts: Sequence[Part]) -> None:
        self.parts = list(parts)

    async def start(self) -> None:
        """Start each part in order."""
        for part in self.parts:
            await part.start()

    def hold(self) -> None:
        """Hold each part."""
        for part in self.parts:
            part.hold()

    async def stop(self) -> None:
        """Stop them all concurrently."""
        await asyncio.gather(*(part.stop() for part in self.parts))

    async def ended(self) -> None:
        """Return when any of them ends on its own."""
        await _first_ended(self.parts)


async def _first_ended(parts: Sequence[Part]) -> None:
    if not parts:
        await asyncio.Event().wait()
    waiting = [asyncio.ensure_future(part.ended()) for part in parts]
    try:
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in waiting:
            task.cancel()


class Process(BasePart):
    """Adapters and the parts over them, started and stopped in the order described above."""

    def __init__(self, parts: Sequence[Part], adapters: Adapters) -> None:
        self.parts = list(parts)
        self.adapters = adapters
        self.started: list[Part] = []

    async def start(self) -> None:
        """Start the adapters, then each part in order (those started are stopped by `stop`)."""
        await self.adapters.start()
        for part in self.parts:
            await part.start()
            self.started.append(part)

    def hold(self) -> None:
        """Hold every started part."""
        for part in self.started:
            part.hold()

    async def stop(self) -> None:
        """Hold every part, stop them in reverse start order, close the adapters."""
        self.hold()
        for part in reversed(self.started):
            try:
                await part.stop()
            except Exception:  # one part failing to stop must not keep the others running
                log.exception("process.part_stop_failed", part=type(part).__name__)
        self.started = []
        await self.adapters.close()

    async def ended(self) -> None:
        """Return when a started part ends on its own."""
        await _first_ended(self.started)

    async def run_until_signal(self) -> None:
        """Start; on SIGTERM/SIGINT (or a part ending on its own) stop as described above."""
        loop = asyncio.get_running_loop()
        stopping = asyncio.Event()

        def on_signal() -> None:
            if stopping.is_set():  # a second signal: hurry what can hurry
                self.hold()
            stopping.set()

        for sig in STOP_SIGNALS:
            loop.add_signal_handler(sig, on_signal)
        try:
            if await _first(self.start(), stopping):
                await _first(self.ended(), stopping)
                if not stopping.is_set():
                    log.error("process.part_ended", why="a part of this process ended on its own")
        finally:
            log.info("process.stopping")
            await self.stop()
            for sig in STOP_SIGNALS:
                loop.remove_signal_handler(sig)


async def run_until_signal(parts: Sequence[Part], adapters: Adapters) -> None:
    """Run a process of these parts over these adapters until SIGTERM/SIGINT (see `Process`)."""
    await Process(parts, adapters).run_until_signal()


async def _first(work: Coroutine[Any, Any, None], stopping: asyncio.Event) -> bool:
    """Run `work` unless a stop comes first (a broker that is not up yet must not keep a stopped
    process waiting): True when it finished, False when it was cancelled by the stop. Raises
    what `work` raised."""
    doing = asyncio.ensure_future(work)
    stop = asyncio.ensure_future(stopping.wait())
    try:
        await asyncio.wait({doing, stop}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.cancel()
        if not doing.done():
            doing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await doing
    if doing.cancelled():
        return False
    doing.result()
    return True
