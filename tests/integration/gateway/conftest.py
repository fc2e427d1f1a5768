"""Fixtures of the gateway API suite: the app on embedded adapters, and sample media."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from mediacraft.gateway.identity_client import IdentityClient
from mediacraft.shared.adapters.bus.memory import MemoryBus
from mediacraft.shared.adapters.objects.local import LocalObjectStore
from mediacraft.shared.adapters.store.sqlite import SqliteStore
from mediacraft.shared.ports.objects import validate_key
from mediacraft.shared.topology import build_topology
from tests.fixtures.media import make_clip
from tests.integration.gateway.harness import Gateway, ShiftClock, gateway_settings, serve_gateway


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("gateway-media")


@pytest.fixture(scope="session")
def clip(media_dir: Path) -> Path:
    """A 2 s 640x360 clip with sound."""
    return make_clip(media_dir / "clip.mp4", duration=2.0)


@pytest.fixture(scope="session")
def clip_b(media_dir: Path) -> Path:
    """A different 1 s 320x240 clip (another content hash)."""
    return make_clip(media_dir / "clip_b.mp4", width=320, height=240, duration=1.0)


@pytest.fixture(scope="session")
def clip_mkv(media_dir: Path) -> Path:
    return make_clip(media_dir / "clip.mkv", width=320, height=240, duration=1.0, vcodec="libx264")


class DirectoryWithoutLocalPaths(LocalObjectStore):
    """A local directory that hands out no paths, as a remote store (S3) does: uploads take the tee."""

    has_local_paths = False

    async def local_path(self, key: str) -> Path | None:
        validate_key(key)
        return None


@asynccontextmanager
async def embedded_gateway(
    tmp_path: Path, *, local_paths: bool = True, identity_client: IdentityClient | None = None, **settings: Any
) -> AsyncIterator[Gateway]:
    """The gateway on MemoryBus, SqliteStore and LocalObjectStore (without its local paths if asked),
    calling identity in-process unless given another client."""
    clock = ShiftClock()
    objects_class = LocalObjectStore if local_paths else DirectoryWithoutLocalPaths
    async with serve_gateway(
        gateway_settings(tmp_path, **settings),
        store=SqliteStore(tmp_path / "db" / "mediacraft.db", clock=clock, synchronous="NORMAL"),
        objects=objects_class(tmp_path / "objects", fsync=False),
        bus=MemoryBus(topology=build_topology((1000,)), clock=clock),
        clock=clock,
        identity_client=identity_client,
    ) as gw:
        yield gw


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[Gateway]:
    """A fresh embedded gateway for one test (tests needing other settings use `embedded_gateway`)."""
    async with embedded_gateway(tmp_path) as gw:
        yield gw


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def tee_gateway(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Gateway]:
    """One embedded gateway for a module whose store gives no local paths (the tee path of S3)."""
    async with embedded_gateway(tmp_path_factory.mktemp("tee-gateway"), local_paths=False) as gw:
        yield gw


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def module_gateway(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Gateway]:
    """One embedded gateway shared by a module whose tests each compare before and after."""
    async with embedded_gateway(tmp_path_factory.mktemp("module-gateway")) as gw:
        yield gw
