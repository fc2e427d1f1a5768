"""The worker runtime on the in-process bus and a local object store, with small processors."""

from __future__ import annotations

import asyncio
import fcntl
import os
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from mediacraft.shared.errors import InvalidInput, RetryableError
from mediacraft.shared.messages import CancelJob, Envelope, RunJob
from mediacraft.shared.ports.bus import Incoming
from mediacraft.shared.tasks import InputFile, TaskType
from mediacraft.shared.topology import CONTROL, JOBS
from mediacraft.shared.worker.contract import JobCancelledError, JobContext, Processor, ProcessorResult
from mediacraft.shared.worker.runtime import describe
from tests.fixtures.waiting import eventually
from tests.fixtures.worker_rig import WorkerRig


def copy_processor(ctx: JobContext) -> ProcessorResult:
    out = ctx.workdir / "result.bin"
    shutil.copyfile(ctx.inputs[0], out)
    for i in range(1, 5):
        ctx.report(i / 4, "copying")
    return ProcessorResult(path=out, content_type="application/octet-stream", filename="result.bin")


def waiting_processor(started: threading.Event) -> Processor:
    """Blocks until cancelled (as ffmpeg would run), writing a partial output first."""

    def process(ctx: JobContext) -> ProcessorResult:
        (ctx.workdir / "partial.mp4").write_bytes(b"partial")
        started.set()
        if not ctx.cancel_event.wait(timeout=30):
            raise AssertionError("never cancelled")
        raise JobCancelledError("stopped")

    return process


def raising_processor(exc: Exception) -> Processor:
    def process(ctx: JobContext) -> ProcessorResult:
        raise exc

    return process


class Harness(WorkerRig):
    """A watermark-pool runtime with small processors; jobs carry one uploaded input."""

    def __init__(self, tmp: Path, processor: Processor, **settings: Any) -> None:
        super().__init__(tmp, "watermark", processor, **settings)

    async def submit(self, task_id: str = "t1", attempt: int = 1, size: int = 4096, **job: Any) -> RunJob:
        data = bytes(range(256)) * (size // 256)
        src = self.tmp / f"{task_id}.src"
        src.write_bytes(data)
        key = f"uploads/u1/{task_id}/clip.mp4"
        await self.objects.put_file(key, src)
        msg = RunJob(
            task_id=task_id,
            user_id="u1",
            attempt=attempt,
            task_type=TaskType.WATERMARK_REMOVAL,
            inputs=[InputFile(key=key, original_name="clip.mp4", size=len(data))],
            output_key=f"results/{task_id}/{attempt}/",
            **job,
        )
        await self.bus.publish(JOBS, "watermark", Envelope.wrap(msg, correlation_id=task_id))
        return msg

    async def cancel(self, task_id: str, attempt: int = 1) -> None:
        await self.bus.publish(CONTROL, "", Envelope.wrap(CancelJob(task_id=task_id, attempt=attempt)))


async def test_job_runs_uploads_result_and_cleans_up(tmp_path: Path) -> None:
    async with Harness(tmp_path, copy_processor) as h:
        job = await h.submit(size=64 * 1024)
        done, seen = await h.until("job.succeeded")
        assert seen[0].TYPE == "job.started"
        assert done.result.key == f"results/{job.task_id}/1/result.bin"
        assert done.result.size == 64 * 1024
        info = await h.objects.stat(done.result.key)
        assert info is not None and info.size == 64 * 1024
        percents = [m.percent for m in seen if m.TYPE == "job.progress"]
        assert percents == sorted(percents)
        assert h.leftovers() == []


async def test_rerun_of_same_attempt_overwrites_result(tmp_path: Path) -> None:
    async with Harness(tmp_path, copy_processor) as h:
        await h.submit(size=4096)
        await h.until("job.succeeded")
        await h.submit(size=8192)
        done, _ = await h.until("job.succeeded")
        keys = [o.key async for o in h.objects.list("results/t1/")]
        assert keys == ["results/t1/1/result.bin"]
        assert done.result.size == 8192


async def test_cancel_while_processing_stops_and_leaves_nothing(tmp_path: Path) -> None:
    started = threading.Event()
    async with Harness(tmp_path, waiting_processor(started)) as h:
        await h.submit()
        await asyncio.wait_for(asyncio.to_thread(started.wait, 10), 11)
        t0 = time.monotonic()
        await h.cancel("t1")
        msg, _ = await h.until("job.cancelled", timeout=5)
        assert time.monotonic() - t0 < 2
        assert msg.attempt == 1
        assert h.leftovers() == []
        assert [o async for o in h.objects.list("results/")] == []


async def test_cancel_signal_before_the_job_means_it_never_runs(tmp_path: Path) -> None:
    ran = threading.Event()

    def process(ctx: JobContext) -> ProcessorResult:
        ran.set()
        return copy_processor(ctx)

    async with Harness(tmp_path, process) as h:
        await h.cancel("t9", attempt=2)
        await h.bus.drain()
        await h.submit(task_id="t9", attempt=2)
        msg, _ = await h.until("job.cancelled")
        assert msg.task_id == "t9" and not ran.is_set()


@pytest.mark.parametrize(
    ("exc", "code", "retryable"),
    [
        (InvalidInput("regions are outside the frame", code="invalid_regions"), "invalid_regions", False),
        (RetryableError("storage timed out", code="storage_unavailable"), "storage_unavailable", True),
        (ZeroDivisionError("boom"), "worker_error", True),
    ],
)
async def test_failures_become_failed_events(tmp_path: Path, exc: Exception, code: str, retryable: bool) -> None:
    async with Harness(tmp_path, raising_processor(exc)) as h:
        await h.submit()
        msg, _ = await h.until("job.failed")
        assert (msg.code, msg.retryable) == (code, retryable)
        assert msg.message
        assert h.leftovers() == []


async def test_time_limit_stops_the_processor(tmp_path: Path) -> None:
    started = threading.Event()
    async with Harness(tmp_path, waiting_processor(started)) as h:
        await h.submit(deadline_seconds=0.5)
        msg, _ = await h.until("job.failed")
        assert msg.code == "job_timeout" and msg.retryable is False
        assert h.leftovers() == []


async def test_heartbeats_flow_while_the_processor_holds_its_thread(tmp_path: Path) -> None:
    release = threading.Event()

    def busy(ctx: JobContext) -> ProcessorResult:
        release.wait(timeout=30)
        return copy_processor(ctx)

    async with Harness(tmp_path, busy, heartbeat_seconds=0.1) as h:
        await h.submit()
        beats = 0
        while beats < 3:
            msg = await h.next_event()
            beats += msg.TYPE == "job.heartbeat"
        release.set()
        await h.until("job.succeeded")


async def test_stopping_hands_back_an_unfinished_job(tmp_path: Path) -> None:
    started = threading.Event()
    h = Harness(tmp_path, waiting_processor(started), shutdown_grace_seconds=0.2)
    await h.__aenter__()
    try:
        await h.submit()
        await asyncio.wait_for(asyncio.to_thread(started.wait, 10), 11)
        await h.runtime.stop(grace=0.2)
        assert h.leftovers() == []
        # handed back: the job is waiting in its queue again for another worker
        again: asyncio.Queue[Incoming] = asyncio.Queue()

        async def take(incoming: Incoming) -> None:
            await again.put(incoming)

        await h.bus.consume("jobs.watermark", take)
        got = await asyncio.wait_for(again.get(), 5)
        job = got.envelope.open()
        assert isinstance(job, RunJob) and job.task_id == "t1"
        # a fresh copy: a hand-back does not count toward the queue's delivery limit (poison)
        assert (got.redelivered, got.delivery_count) == (False, 0)
    finally:
        await h.bus.close()


async def test_start_removes_job_directories_nobody_holds_and_keeps_a_locked_one(tmp_path: Path) -> None:
    work = tmp_path / "work"
    left = work / "mc-deadbeef0000-1-abcd"  # what a killed worker left: nobody holds its lock
    left.mkdir(parents=True)
    (left / "input-000.mp4").write_bytes(b"x" * 10_000)
    running = work / "mc-cafe00000000-2-efgh"  # another worker's running job
    running.mkdir()
    (running / "input-000.mp4").write_bytes(b"y" * 20_000)
    fd = os.open(running, os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        async with Harness(tmp_path, copy_processor) as h:
            assert not left.exists()
            assert (running / "input-000.mp4").exists()
            assert describe(h.runtime)["scratch_bytes"] >= 20_000
            await h.submit()
            await h.until("job.succeeded")
            assert h.leftovers() == [running]
    finally:
        os.close(fd)


async def test_a_worker_that_cannot_reach_the_broker_past_the_lease_stops_its_job(tmp_path: Path) -> None:
    started, first_run_stopped = threading.Event(), threading.Event()
    runs: list[int] = []

    def process(ctx: JobContext) -> ProcessorResult:
        runs.append(ctx.attempt)
        if len(runs) == 1:
            started.set()
            if ctx.cancel_event.wait(timeout=30):
                first_run_stopped.set()
            raise JobCancelledError("stopped")
        return copy_processor(ctx)

    async with Harness(tmp_path, process, lease_seconds=1.0, heartbeat_seconds=0.1, claim_wait_seconds=0.1) as h:
        await h.submit()
        await asyncio.wait_for(asyncio.to_thread(started.wait, 10), 11)
        publish = h.bus.publish
        cut = asyncio.Event()

        async def unreachable(*args: Any, **kwargs: Any) -> None:  # the broker is gone: nothing confirms
            await cut.wait()
            await publish(*args, **kwargs)

        h.bus.publish = unreachable
        t0 = time.monotonic()
        assert await asyncio.to_thread(first_run_stopped.wait, 10)
        assert 0.8 <= time.monotonic() - t0 < 5  # about one lease after the last news it sent
        await eventually(lambda: h.leftovers() == [], timeout=5, what="the job directory removed")
        h.bus.publish = publish
        cut.set()
        # the stopped run reported nothing: its copy comes back and runs to the end
        _, seen = await h.until("job.succeeded")
        assert [m.TYPE for m in seen if m.TYPE in ("job.failed", "job.cancelled")] == []
        assert len(runs) == 2
