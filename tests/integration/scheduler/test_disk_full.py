"""Fault drill: a worker's scratch disk is full while it downloads a job's input, or while it
processes it. The task is retried (never failed for it) with the error table's plain sentence for
`disk_full`, and completes once space is back. The full disk is real: /dev/full answers every
write with ENOSPC, as a full scratch volume does."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from mediacraft.shared.adapters.factory import make_object_store
from mediacraft.shared.error_texts import sentence
from mediacraft.shared.messages import SubmitTask
from mediacraft.shared.tasks import TaskStatus
from mediacraft.shared.worker.contract import JobContext, ProcessorResult
from mediacraft.shared.worker.runtime import Executions, WorkerRuntime
from mediacraft.shared.worker.settings import WorkerSettings
from tests.fixtures.full_disk import FaultyStore, ScratchDisk
from tests.integration.scheduler.harness import Harness, make_harness

pytestmark = [pytest.mark.drill]

RETRY_DELAY_MS = 1500  # long enough to see the task wait for its retry


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    h = await make_harness(tmp_path, "memory", retry_delays_ms=(RETRY_DELAY_MS,) * 3)
    yield h
    await h.close()


@pytest.mark.parametrize("stage", ["download", "process"])
async def test_a_full_scratch_disk_is_retried_with_a_plain_message_and_completes_once_space_is_back(
    harness: Harness, tmp_path: Path, stage: str, drill_record: Callable[[str, Any], None]
) -> None:
    disk = ScratchDisk()

    def process(ctx: JobContext) -> ProcessorResult:
        if stage == "process":
            disk.write()
        out = ctx.workdir / "result.mp4"
        shutil.copyfile(ctx.inputs[0], out)
        return ProcessorResult(path=out, content_type="video/mp4", filename="result.mp4")

    objects = make_object_store(f"file://{tmp_path / 'objects'}")
    await objects.start()
    runtime = WorkerRuntime(
        pool="merge",
        processor=process,
        bus=await harness.buses.new(),
        objects=FaultyStore(objects, stage, disk.write),
        settings=WorkerSettings(work_dir=str(tmp_path / "work"), heartbeat_seconds=0.5),
        executions=Executions(),
    )
    try:
        await harness.start_scheduler()
        await runtime.start()
        # the input is stored before the task is queued, as the gateway does: a scheduler taking
        # over may dispatch any queued task it finds in the store at once
        task_id = uuid.uuid4().hex
        source = tmp_path / "clip.mp4"
        source.write_bytes(b"clip" * 4096)
        await objects.put_file(f"uploads/alice/{task_id}/in.mp4", source)
        await harness.add_task("alice", publish=False, task_id=task_id)
        queued = await harness.task(task_id)
        assert queued.inputs[0].key == f"uploads/alice/{task_id}/in.mp4"
        await harness.send(
            SubmitTask(task_id=task_id, user_id="alice", task_type=queued.task_type, version=queued.version), task_id
        )

        retrying = await harness.wait_status(task_id, TaskStatus.RETRYING, timeout=20)
        assert retrying.error is not None and retrying.error.code == "disk_full"
        assert retrying.error_message == sentence("disk_full")
        assert str(tmp_path) not in (retrying.error_message or "")
        disk.free()
        back = asyncio.get_running_loop().time()
        done = await harness.wait_status(task_id, TaskStatus.COMPLETED, timeout=30)
        drill_record("stage", stage)
        drill_record("message", retrying.error_message)
        drill_record("completed after space came back (s)", asyncio.get_running_loop().time() - back)
        assert (done.attempts, done.retry_count) == (2, 1)
        assert disk.refusals == 1
        assert not any((tmp_path / "work").iterdir()), "the failed attempt left files on the scratch disk"
    finally:
        await runtime.stop(grace=5)
        await objects.close()
