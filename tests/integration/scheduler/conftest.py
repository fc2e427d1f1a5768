"""Scheduler integration fixtures: each core test runs on MemoryBus and on RabbitMQ, both with SQLite."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.integration.scheduler.harness import Harness, make_harness

HarnessFactory = Callable[..., Awaitable[Harness]]


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
    for harness in made:
        await harness.close()
