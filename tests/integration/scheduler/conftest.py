"""Scheduler integration fixtures: each core test runs on MemoryBus and on RabbitMQ, both with SQLite."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.integration.scheduler.harness import Harness, make_harness

HarnessFactory = Callable[..., Awaitable[Harness]]
TEARDOWN_SECONDS = 60.0  # a stop takes seconds at most; beyond this, say what is stuck


def _running_tasks() -> str:
    """The stack of every other task of this loop, to show what a stop that hangs waits on."""
    out = io.StringIO()
    for task in asyncio.all_tasks():
        if task is not asyncio.current_task():
            task.print_stack(file=out)
    return out.getvalue()


@pytest.fixture(params=["memory", "rabbit"])
def bus_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def harness_factory(
    request: pytest.FixtureRequest, tmp_path: Path, bus_kind: str
) -> AsyncIterator[HarnessFactory]:
    """Builds a harness with the given settings; on RabbitMQ each test gets a fresh vhost."""
    made: list[Harness] = []
    url = request.getfixturevalue("rabbit_vhost_url") if bus_kind == "rabbit" else None

    async def factory(**overrides: Any) -> Harness:
        harness = await make_harness(tmp_path, bus_kind, url=url, **overrides)
        made.append(harness)
        return harness

    yield factory
    try:
        async with asyncio.timeout(TEARDOWN_SECONDS):
            for harness in made:
                await harness.close()
    except TimeoutError:
        pytest.fail(f"the harness did not stop within {TEARDOWN_SECONDS:.0f}s; still running:\n{_running_tasks()}")
