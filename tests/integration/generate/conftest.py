"""Fixtures of the generation tests: fake generation services that are always shut down."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.integration.generate.backend import FakeBackend, Script

BackendFactory = Callable[..., FakeBackend]


@pytest.fixture
def backend_factory() -> Iterator[BackendFactory]:
    """Makes fake backends on 127.0.0.1; each is closed after the test."""
    made: list[FakeBackend] = []

    def make(script: Script, *, listening: bool = True) -> FakeBackend:
        backend = FakeBackend(script, listening=listening)
        made.append(backend)
        return backend

    yield make
    for backend in made:
        backend.close()
