"""The dead-letters command of `python -m mediacraft.scheduler`, on real RabbitMQ."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from mediacraft.shared.messages import Envelope, SubmitTask
from mediacraft.shared.tasks import TaskStatus, TaskType
from mediacraft.shared.topology import DEAD, REASON_HEADER, SCHEDULER_INBOX, TARGET_HEADER
from tests.fixtures.fake_workers import behaviour
from tests.fixtures.waiting import eventually
from tests.integration.scheduler.harness import Harness, make_harness
from tests.integration.scheduler.processes import ROOT, settings_env


@pytest.fixture
async def harness(tmp_path: Path, rabbit_vhost_url: str) -> AsyncIterator[Harness]:
    # no periodic reconcile during the test: only the replayed message can start the task
    h = await make_harness(tmp_path, "rabbit", url=rabbit_vhost_url, reconcile_seconds=3600)
    yield h
    await h.close()


async def cli(harness: Harness, url: str, *args: str) -> str:
    env = settings_env(harness.settings, bus_url=url, store_url=f"sqlite:///{harness.store.path}")
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "mediacraft.scheduler", "dead-letters", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


async def test_a_parked_submit_is_listed_and_replayed_by_the_command(harness: Harness, rabbit_vhost_url: str) -> None:
    scheduler = await harness.start_scheduler()
    await harness.start_workers()

    async def active() -> bool:
        return scheduler.takeovers >= 1

    await eventually(active, what="the scheduler active")
    task_id = await harness.add_task("alice", behaviour("noop"), publish=False)
    parked = Envelope.wrap(
        SubmitTask(task_id=task_id, user_id="alice", task_type=TaskType.VIDEO_MERGE), correlation_id=task_id
    )
    await harness.client.publish(
        DEAD,
        "scheduler",
        parked,
        headers={
            TARGET_HEADER: SCHEDULER_INBOX,
            REASON_HEADER: "store_unavailable: the database did not answer",
        },
    )

    listed = json.loads(await cli(harness, rabbit_vhost_url, "list", "--json"))
    assert listed == [
        {
            "message_id": parked.message_id,
            "type": "task.submit",
            "task_id": task_id,
            "queue": SCHEDULER_INBOX,
            "deaths": 0,
            "reason": "store_unavailable: the database did not answer",
        }
    ]
    assert (await harness.task(task_id)).status == TaskStatus.QUEUED  # parked: nothing ran it

    out = await cli(harness, rabbit_vhost_url, "replay", "--id", parked.message_id)
    assert parked.message_id in out
    await harness.wait_status(task_id, TaskStatus.COMPLETED)
    assert json.loads(await cli(harness, rabbit_vhost_url, "list", "--json")) == []
