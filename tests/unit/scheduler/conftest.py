"""Fixtures of the scheduler handler tests: a started rig, or a factory for one with other settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.unit.scheduler.rig import RigFactory, SchedulerRig


@pytest.fixture
async def make_rig(tmp_path: Path) -> AsyncIterator[RigFactory]:
    """Starts a rig with the given scheduler settings (over the rig's defaults)."""
    made: list[SchedulerRig] = []

    async def factory(**overrides: Any) -> SchedulerRig:
        rig = SchedulerRig(tmp_path, **overrides)
        made.append(rig)
        return await rig.start()

    yield factory
    for rig in made:
        await rig.close()


@pytest.fixture
async def rig(make_rig: RigFactory) -> SchedulerRig:
    """A rig with the default settings: one running task per user, five in all."""
    return await make_rig()
