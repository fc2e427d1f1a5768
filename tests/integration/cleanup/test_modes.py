"""The two ways cleanup runs: `python -m mediacraft.cleanup --once [--dry-run]` (a CronJob) and
the long-running loop with its metrics endpoint."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from mediacraft.cleanup.main import serve
from mediacraft.cleanup.metrics import CleanupMetrics
from mediacraft.cleanup.report import Kind
from mediacraft.cleanup.service import CleanupService
from mediacraft.shared.adapters.factory import make_object_store, make_store
from mediacraft.shared.clock import FakeClock, SystemClock, utcnow
from mediacraft.shared.tasks import TaskStatus
from tests.fixtures.waiting import eventually
from tests.integration.cleanup.conftest import cleanup_settings
from tests.integration.cleanup.world import DAY, HOUR, World, files_of, keys

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
async def objects(s3_url: str) -> AsyncIterator[Any]:
    objects = make_object_store(s3_url)
    await objects.start()
    yield objects
    await objects.close()


async def run_cli(*args: str, env: dict[str, str]) -> tuple[int, str]:
    """Run the module as a CronJob would; returns the exit status and stdout."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "mediacraft.cleanup", *args,
        cwd=REPO, env={**os.environ, **env}, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode() + ("" if process.returncode == 0 else err.decode())


@pytest.mark.slow  # two interpreter start-ups
async def test_one_shot_mode_lists_in_a_dry_run_then_removes(tmp_path: Path, s3_url: str, objects: Any) -> None:
    url = f"sqlite:///{tmp_path / 'mediacraft.db'}"
    store = make_store(url, clock=SystemClock())
    await store.start()
    world = World(store, objects, FakeClock(utcnow()))  # real time: the child process runs on it
    old = await world.finished(TaskStatus.COMPLETED, age=8 * DAY)
    await store.close()
    env = {
        "MEDIACRAFT_STORE_URL": url,
        "MEDIACRAFT_OBJECT_STORE_URL": s3_url,
        "MEDIACRAFT_BUS_URL": "memory://",
        "MEDIACRAFT_LOG_JSON": "true",
    }

    status, out = await run_cli("--once", "--dry-run", "--json", env=env)
    assert status == 0, out
    dry = json.loads(out)
    assert dry["dry_run"] is True and dry["removed"]["task_files"] == 1
    assert {r["task_id"] for r in dry["removals"] if r["kind"] == "task_files"} == {old.task_id}
    assert files_of(old) <= await keys(objects)

    status, out = await run_cli("--once", env=env)
    assert status == 0, out
    assert await keys(objects, f"results/{old.task_id}/") == set()
    store = make_store(url)
    await store.start()
    try:
        expired = await store.get(old.task_id)
        assert expired is not None and expired.status is TaskStatus.EXPIRED
    finally:
        await store.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_loop_mode_runs_a_pass_every_interval_and_serves_metrics(tmp_path: Path, objects: Any) -> None:
    clock = FakeClock(utcnow())
    store = make_store(f"sqlite:///{tmp_path / 'mediacraft.db'}", clock=clock)
    await store.start()
    world = World(store, objects, clock)
    first = await world.finished(TaskStatus.COMPLETED, age=8 * DAY)
    port = free_port()
    settings = cleanup_settings(cleanup_metrics_port=port, cleanup_metrics_host="127.0.0.1")
    metrics = CleanupMetrics()
    service = CleanupService(settings=settings, store=store, objects=objects, clock=clock, metrics=metrics)
    stop = asyncio.Event()
    loop = asyncio.create_task(serve(service, settings, metrics, stop))
    try:
        await eventually(lambda: clock.pending_sleepers == 1, timeout=20, what="the first pass to end")
        report = service.last_report
        assert report is not None and [r.task_id for r in report.of_kind(Kind.TASK_FILES)] == [first.task_id]
        async with httpx.AsyncClient() as http:
            scraped = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
        assert 'mediacraft_cleanup_passes_total{outcome="completed"} 1.0' in scraped
        assert "mediacraft_storage_total_bytes" in scraped

        second = await world.finished(TaskStatus.FAILED, age=3 * DAY - HOUR / 2)  # due in half an hour
        await clock.advance(settings.cleanup_interval.total_seconds())
        await eventually(
            lambda: metrics.registry.get_sample_value("mediacraft_cleanup_passes_total", {"outcome": "completed"}) == 2,
            timeout=20,
            what="the second pass",
        )
        report = service.last_report
        assert report is not None and [r.task_id for r in report.of_kind(Kind.TASK_FILES)] == [second.task_id]
    finally:
        stop.set()
        await asyncio.wait_for(loop, 10)
        await store.close()
    assert loop.done() and loop.exception() is None
