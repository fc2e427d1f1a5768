"""The local stack starts a service again when its process ends on its own, with a growing delay
while it keeps ending quickly, and a stop of the stack ends it for good, backoff or not."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from mediacraft.standalone import stack as stack_module
from mediacraft.standalone.stack import RESTART_FIRST_DELAY, RESTART_MAX_DELAY, Child, Stack, next_restart_delay
from tests.fixtures.waiting import eventually


def test_quick_ends_double_the_delay_up_to_the_cap() -> None:
    delays = [0.0]
    for _ in range(10):
        delays.append(next_restart_delay(delays[-1]))
    assert delays[:4] == [0.0, RESTART_FIRST_DELAY, 2 * RESTART_FIRST_DELAY, 4 * RESTART_FIRST_DELAY]
    assert delays[-1] == RESTART_MAX_DELAY and all(b >= a for a, b in zip(delays, delays[1:]))


class OneServiceStack(Stack):
    """A stack of one service that prints a line and ends at once (`python -m this`)."""

    def plan(self, env: dict[str, str]) -> list[Child]:
        return [Child("zen", "this", env)]


@pytest.fixture
def three_quick_restarts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Restart delays of 10 ms three times, then a minute: a stop must cut that one short."""
    delays = iter([0.01, 0.01, 0.01])
    monkeypatch.setattr(stack_module, "next_restart_delay", lambda previous: next(delays, 60.0))


async def test_a_service_that_ends_is_started_again_until_the_stack_stops(
    tmp_path: Path, three_quick_restarts: None, monkeypatch: pytest.MonkeyPatch, capfdbinary: pytest.CaptureFixture[bytes],
) -> None:
    monkeypatch.setenv("MEDIACRAFT_OBJECT_STORE_URL", "s3://key:secret@127.0.0.1:9/bucket")  # no S3 server here
    stack = OneServiceStack(data_dir=tmp_path, grace=10.0)
    await stack.start()
    [child] = stack.children
    try:
        await eventually(lambda: child.restarts == 3 and child.process is not None
                         and child.process.returncode is not None, timeout=30, what="three restarts, the last one ended")
    finally:
        loop = asyncio.get_running_loop()
        began = loop.time()
        await stack.stop()
        stopped_in = loop.time() - began
    assert stopped_in < 5, "a stop does not wait out the minute's restart delay"
    assert child.process is not None and child.process.returncode is not None
    restarts = child.restarts
    assert restarts == 3
    sys.stdout.flush()
    out = capfdbinary.readouterr().out
    assert out.count(b"zen | Beautiful is better than ugly.") == restarts + 1, out[-2000:]
