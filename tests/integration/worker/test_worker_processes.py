"""Worker services as real OS processes on RabbitMQ and SeaweedFS: crash and cancel mid-job."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from mediacraft.shared.adapters.factory import make_bus, make_object_store
from mediacraft.shared.messages import CancelJob, Envelope, JobStarted, JobSucceeded, Message, RunJob
from mediacraft.shared.tasks import InputFile, TaskType
from mediacraft.shared.topology import CONTROL, JOBS, build_topology
from tests.fixtures.media import make_clip, probe
from tests.fixtures.worker_rig import collect_job_events

pytestmark = pytest.mark.slow

CLIPS: list[dict[str, Any]] = [
    {"width": 1280, "height": 720, "fps": 30, "duration": 3.0, "channels": 2, "sample_rate": 48000},
    {"width": 960, "height": 540, "fps": 25, "duration": 3.0, "channels": 1, "sample_rate": 44100},
    {"width": 640, "height": 360, "fps": 24, "duration": 3.0, "audio": False},
]


class Rig:
    """A test-side bus and object store, plus worker processes started on demand."""

    def __init__(self, tmp: Path, bus_url: str, s3_url: str, clips: list[Path]) -> None:
        self.tmp, self.bus_url, self.s3_url, self.clips = tmp, bus_url, s3_url, clips
        self.bus = make_bus(bus_url, topology=build_topology((1000,)))
        self.objects = make_object_store(s3_url)
        self.events: asyncio.Queue[Message] = asyncio.Queue()
        self.procs: list[subprocess.Popen[bytes]] = []
        self.names: dict[int, str] = {}

    async def start(self) -> None:
        await self.bus.start()
        await self.objects.start()
        await collect_job_events(self.bus, self.events)

    def worker(self, name: str) -> tuple[subprocess.Popen[bytes], Path]:
        workdir = self.tmp / f"work-{name}"
        workdir.mkdir()
        env = dict(
            os.environ,
            MEDIACRAFT_BUS_URL=self.bus_url,
            MEDIACRAFT_OBJECT_STORE_URL=self.s3_url,
            MEDIACRAFT_WORK_DIR=str(workdir),
            MEDIACRAFT_WORKER_ID=name,
            MEDIACRAFT_RETRY_DELAYS_MS="1000",
            MEDIACRAFT_HEARTBEAT_SECONDS="0.5",
            MEDIACRAFT_SHUTDOWN_GRACE_SECONDS="5",
        )
        # its own session: killing the group is what a lost pod looks like (ffmpeg children too);
        # the child keeps its copy of the log's descriptor, this process closes its own
        with open(self.tmp / f"{name}.log", "wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "mediacraft.worker_merge"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.procs.append(proc)
        self.names[proc.pid] = name
        return proc, workdir

    async def upload_clips(self, task_id: str) -> list[InputFile]:
        inputs = []
        for n, path in enumerate(self.clips):
            key = f"uploads/u1/{task_id}/{n}.mp4"
            info = await self.objects.put_file(key, path, content_type="video/mp4")
            inputs.append(InputFile(key=key, original_name=f"clip {n}.mp4", size=info.size))
        return inputs

    async def run_job(self, task_id: str, inputs: list[InputFile]) -> None:
        job = RunJob(
            task_id=task_id,
            user_id="u1",
            attempt=1,
            task_type=TaskType.VIDEO_MERGE,
            inputs=inputs,
            output_key=f"results/{task_id}/1/",
        )
        await self.bus.publish(JOBS, "merge", Envelope.wrap(job, correlation_id=task_id))

    async def until(self, predicate, timeout: float = 60) -> Message:
        deadline = time.monotonic() + timeout
        while True:
            for proc in self.procs:
                if proc.returncode is None and proc.poll() is not None:
                    name = self.names[proc.pid]
                    tail = (self.tmp / f"{name}.log").read_text()[-3000:]
                    pytest.fail(f"worker {name} exited with {proc.returncode}:\n{tail}")
            try:
                msg = await asyncio.wait_for(self.events.get(), min(0.5, max(0.01, deadline - time.monotonic())))
            except TimeoutError:
                if time.monotonic() >= deadline:
                    raise
                continue
            if predicate(msg):
                return msg

    async def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        await self.bus.close()
        await self.objects.close()


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("clips")
    return [make_clip(root / f"clip{n}.mp4", **params) for n, params in enumerate(CLIPS)]


@pytest.fixture
async def rig(tmp_path: Path, rabbit_vhost_url: str, s3_url: str, clips: list[Path]) -> AsyncIterator[Rig]:
    r = Rig(tmp_path, rabbit_vhost_url, s3_url, clips)
    await r.start()
    try:
        yield r
    finally:
        await r.close()


def _files(root: Path) -> list[Path]:
    return list(root.rglob("*"))


async def test_killed_worker_job_is_redelivered_and_completes_once(rig: Rig) -> None:
    inputs = await rig.upload_clips("crash")
    first, _ = rig.worker("first")
    await rig.run_job("crash", inputs)
    await rig.until(lambda m: m.TYPE == "job.progress" and m.stage == "process" and m.stage_percent > 0)
    os.killpg(first.pid, signal.SIGKILL)  # the worker and its ffmpeg die together, mid-job
    first.wait()

    second, second_dir = rig.worker("second")
    started = await rig.until(lambda m: m.TYPE == "job.started")
    assert isinstance(started, JobStarted) and started.worker_id == "second"
    done = await rig.until(lambda m: m.TYPE == "job.succeeded")
    assert isinstance(done, JobSucceeded) and done.attempt == 1

    # a graceful stop of the second worker: nothing else was delivered, nothing else completes
    second.send_signal(signal.SIGTERM)
    assert second.wait(timeout=30) == 0
    assert rig.events.empty() or all(m.TYPE != "job.succeeded" for m in _drain(rig.events))

    keys = [o.key async for o in rig.objects.list("results/crash/")]
    assert keys == [done.result.key]
    out = rig.tmp / "out.mp4"
    await rig.objects.get_file(done.result.key, out)
    fmt = probe(out)
    assert abs(float(fmt["format"]["duration"]) - 9.0) < 0.2
    assert {s["codec_type"] for s in fmt["streams"]} == {"video", "audio"}
    assert _files(second_dir) == []


async def test_cancel_stops_a_running_merge_within_two_seconds(rig: Rig) -> None:
    inputs = await rig.upload_clips("stop")
    proc, workdir = rig.worker("canceller")
    await rig.run_job("stop", inputs)
    await rig.until(lambda m: m.TYPE == "job.progress" and m.stage == "process" and m.stage_percent > 0)
    t0 = time.monotonic()
    await rig.bus.publish(CONTROL, "", Envelope.wrap(CancelJob(task_id="stop", attempt=1)))
    await rig.until(lambda m: m.TYPE == "job.cancelled", timeout=10)
    assert time.monotonic() - t0 < 2.0
    assert _files(workdir) == []
    assert [o async for o in rig.objects.list("results/stop/")] == []
    assert proc.poll() is None  # the worker lives on for the next job


def _drain(queue: asyncio.Queue[Message]) -> list[Message]:
    items = []
    while not queue.empty():
        items.append(queue.get_nowait())
    return items
