"""Running a service's main coroutine on the fastest event loop available.

uvloop runs the same asyncio code with a loop written in C: on the scheduler's hot path (an AMQP
frame in, a store write, frames out) it cuts the loop's own share of the CPU, the socket writes
and the selector calls, noticeably. `MEDIACRAFT_EVENT_LOOP=asyncio` falls back to the standard
loop (for a debugger, or a platform without uvloop).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

EVENT_LOOP_ENV = "MEDIACRAFT_EVENT_LOOP"


def loop_name() -> str:
    """'uvloop' when it is installed and not turned off, else 'asyncio'."""
    if os.environ.get(EVENT_LOOP_ENV, "auto").strip().lower() == "asyncio":
        return "asyncio"
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"


def run(main: Coroutine[Any, Any, T]) -> T:
    """asyncio.run(main), on uvloop when available."""
    if loop_name() == "uvloop":
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(main)
    return asyncio.run(main)
