"""Fixtures shared by the integration suites."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.scheduler.processes import Process


@pytest.fixture
def processes() -> Iterator[list[Process]]:
    """Service processes a test starts (append them); each is stopped when the test ends."""
    started: list[Process] = []
    yield started
    for process in started:
        process.stop()
