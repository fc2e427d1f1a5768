"""Workers short of scratch space: the job goes back unrun and unfailed, the worker takes no jobs
until its space is back, and the hand-back does not count toward the poison limit.

The free space is a stand-in (the file system's numbers for chosen work dirs); the runtimes, the
in-process bus with its delivery limit, the object store and the status files are the real ones.
"""

from __future__ import annotations

import asyncio
import shutil
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from mediacraft.shared.adapters.bus.memory import MemoryBus
from mediacraft.shared.adapters.factory import make_bus, make_object_store
from mediacraft.shared.messages import (
    DetectionFinished,
    Envelope,
    JobStarted,
    JobSucceeded,
    Message,
    RunDetection,
    RunJob,
)
from mediacraft.shared.ports.bus import Incoming
from mediacraft.shared.ports.objects import ObjectStore
from mediacraft.shared.tasks import InputFile, TaskType
from mediacraft.shared.topology import DEAD_LETTERS, JOBS, build_topology
from mediacraft.shared.worker import status
from mediacraft.shared.worker.contract import JobContext, ProcessorResult
from mediacraft.shared.worker.runtime import Detector, Executions, WorkerRuntime, describe
from mediacraft.shared.worker.settings import WorkerSettings
from tests.fixtures.waiting import eventually
from tests.fixtures.worker_rig import collect_job_events

# one counted requeue would already park a job in dead letters: a hand-back must not count
TOPOLOGY = build_topology((100,), delivery_limit=1)
SIZE = 4096
RESERVE = 1000
NEEDED = 3 * SIZE + RESERVE  # the default factor, 3
SHORT = NEEDED - 1


class Disk:
    """The file system's numbers, with the free space of chosen directories replaced."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.free: dict[Path, int] = {}
        real = shutil.disk_usage

        def disk_usage(path: Any) -> Any:
            usage = real(path)
            for root, free in self.free.items():
                if Path(path).is_relative_to(root):
                    return usage._replace(free=free)
            return usage

        monkeypatch.setattr(shutil, "disk_usage", disk_usage)


class Ran:
    """The work dirs jobs ran in (which worker ran them), from the processor's thread."""

    def __init__(self) -> None:
        self.workdirs: list[Path] = []

    def __call__(self, ctx: JobContext) -> ProcessorResult:
        self.workdirs.append(ctx.workdir)
        out = ctx.workdir / "result.bin"
        shutil.copyfile(ctx.inputs[0], out)
        return ProcessorResult(path=out, content_type="application/octet-stream", filename="result.bin")


class Rig:
    """Workers of the watermark pool on one in-process bus, each with a work dir and status file."""

    def __init__(self, tmp: Path, bus: MemoryBus, objects: ObjectStore) -> None:
        self.tmp = tmp
        self.bus = bus
        self.objects = objects
        self.ran = Ran()
        self.events: asyncio.Queue[Message] = asyncio.Queue()
        self.dead: list[Incoming] = []
        self.runtimes: list[WorkerRuntime] = []

    async def worker(self, name: str, detector: Detector | None = None, **settings: Any) -> WorkerRuntime:
        runtime = WorkerRuntime(
            pool="watermark",
            processor=self.ran,
            bus=self.bus,
            objects=self.objects,
            settings=WorkerSettings(
                worker_id=name,
                work_dir=str(self.work(name)),
                status_file=str(self.status_path(name)),
                scratch_reserve_bytes=RESERVE,
                scratch_recheck_seconds=0.05,
                progress_interval_seconds=0.05,
                claim_wait_seconds=0.1,
                **settings,
            ),
            executions=Executions(),  # a process of its own
            detector=detector,
        )
        await runtime.start()
        self.runtimes.append(runtime)
        return runtime

    def work(self, name: str) -> Path:
        return self.tmp / name / "work"

    def status_path(self, name: str) -> Path:
        return self.tmp / name / "status.json"

    def status(self, name: str) -> dict[str, Any]:
        return status.read(self.status_path(name))

    async def submit(self, task_id: str = "t1") -> RunJob:
        src = self.tmp / f"{task_id}.src"
        src.write_bytes(bytes(range(256)) * (SIZE // 256))
        key = f"uploads/u1/{task_id}/clip.mp4"
        await self.objects.put_file(key, src)
        job = RunJob(
            task_id=task_id,
            user_id="u1",
            attempt=1,
            task_type=TaskType.WATERMARK_REMOVAL,
            inputs=[InputFile(key=key, original_name="clip.mp4", size=SIZE)],
            output_key=f"results/{task_id}/1/",
        )
        await self.bus.publish(JOBS, "watermark", Envelope.wrap(job, correlation_id=task_id))
        return job

    async def until(self, type_name: str, timeout: float = 10) -> list[Message]:
        """Job events up to and with the first `type_name`."""
        seen: list[Message] = []
        while not seen or type_name != seen[-1].TYPE:
            seen.append(await asyncio.wait_for(self.events.get(), timeout))
        return seen


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    bus = make_bus("memory://", topology=TOPOLOGY)
    assert isinstance(bus, MemoryBus)
    objects = make_object_store(f"file://{tmp_path / 'objects'}")
    await bus.start()
    await objects.start()
    made = Rig(tmp_path, bus, objects)
    await collect_job_events(bus, made.events)

    async def parked(incoming: Incoming) -> None:
        made.dead.append(incoming)

    await bus.consume(DEAD_LETTERS, parked)
    yield made
    for runtime in made.runtimes:
        await runtime.stop(grace=5)
    await bus.close()
    await objects.close()


def job_dirs(work: Path) -> list[Path]:
    return [p for p in work.iterdir() if p.name.startswith("mc-")] if work.exists() else []


async def test_a_worker_short_of_space_hands_the_job_back_and_another_worker_runs_it(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    disk = Disk(monkeypatch)
    disk.free[rig.work("a")] = SHORT
    with structlog.testing.capture_logs() as logs:
        a = await rig.worker("a")
        assert rig.status("a")["taking_jobs"] is True
        job = await rig.submit()

        await eventually(lambda: not a.taking_jobs, what="worker a short of space")
        await eventually(lambda: rig.status("a")["taking_jobs"] is False, what="a's status file says so")
        entry = rig.status("a")["workers"]["a"]
        assert (entry["scratch_free_bytes"], entry["scratch_needed_bytes"]) == (SHORT, NEEDED)
        state = describe(a)
        assert state["taking_jobs"] is False and state["busy"] is False
        assert (state["scratch_free_bytes"], state["scratch_needed_bytes"]) == (SHORT, NEEDED)
        assert state["jobs_handed_back_for_space"] >= 1

        b = await rig.worker("b")
        seen = await rig.until("job.succeeded")

    # never started on a: started once, on b, and ran there once; nothing parked as poison
    assert [m.worker_id for m in seen if isinstance(m, JobStarted)] == ["b"]
    assert [m.TYPE for m in seen if m.TYPE in ("job.failed", "job.cancelled")] == []
    assert isinstance(seen[-1], JobSucceeded) and seen[-1].task_id == job.task_id
    assert [d.is_relative_to(rig.work("b")) for d in rig.ran.workdirs] == [True]
    await rig.bus.drain()
    assert rig.dead == []
    assert job_dirs(rig.work("a")) == [] and job_dirs(rig.work("b")) == []
    assert describe(b)["taking_jobs"] is True and a.taking_jobs is False
    short = [e for e in logs if e["event"].startswith("short of scratch space")]
    assert len(short) == 1 and short[0]["log_level"] == "warning"
    assert (short[0]["free_bytes"], short[0]["needed_bytes"]) == (SHORT, NEEDED)

    # a's space comes back: it takes jobs again
    del disk.free[rig.work("a")]
    await eventually(lambda: a.taking_jobs, what="worker a taking jobs again")
    await eventually(lambda: rig.status("a")["taking_jobs"] is True, what="a's status file says so")


async def test_a_worker_takes_the_job_itself_once_its_space_is_back(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    disk = Disk(monkeypatch)
    disk.free[rig.work("a")] = SHORT
    with structlog.testing.capture_logs() as logs:
        a = await rig.worker("a")
        await rig.submit()
        await eventually(lambda: a._jobs_sub is None and a._unsubscribing is None, what="a's consumer off")
        assert rig.ran.workdirs == []

        disk.free[rig.work("a")] = NEEDED  # just enough
        seen = await rig.until("job.succeeded")

    assert [m.TYPE for m in seen].count("job.started") == 1
    assert len(rig.ran.workdirs) == 1
    await rig.bus.drain()
    assert rig.dead == []
    assert a.taking_jobs is True and rig.status("a")["taking_jobs"] is True
    assert describe(a)["jobs_handed_back_for_space"] >= 1
    back = [e for e in logs if e["event"].startswith("scratch space back")]
    assert len(back) == 1 and back[0]["free_bytes"] == NEEDED


async def test_a_worker_that_starts_without_its_reserve_free_takes_no_job_until_it_is(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    disk = Disk(monkeypatch)
    disk.free[rig.work("a")] = RESERVE - 1
    a = await rig.worker("a")
    assert a.taking_jobs is False and rig.status("a")["taking_jobs"] is False
    assert rig.status("a")["workers"]["a"]["scratch_needed_bytes"] == RESERVE
    await rig.submit()
    await rig.bus.drain()  # nothing takes it: it waits in the queue, not handed around
    assert rig.ran.workdirs == [] and describe(a)["jobs_handed_back_for_space"] == 0

    disk.free[rig.work("a")] = NEEDED
    seen = await rig.until("job.succeeded")
    assert [m.TYPE for m in seen].count("job.started") == 1
    assert rig.status("a")["taking_jobs"] is True
    assert rig.dead == []


async def test_a_job_larger_than_the_whole_scratch_space_is_taken_anyway(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    disk = Disk(monkeypatch)
    disk.free[rig.work("a")] = SHORT
    # the work dir may hold less than the job's estimate: no wait would ever make room for it
    a = await rig.worker("a", scratch_limit_bytes=NEEDED - 1)
    await rig.submit()
    seen = await rig.until("job.succeeded")
    assert [m.TYPE for m in seen].count("job.started") == 1
    assert a.taking_jobs is True and describe(a)["jobs_handed_back_for_space"] == 0


async def test_a_stopping_worker_reports_it_takes_no_jobs(rig: Rig) -> None:
    a = await rig.worker("a")
    assert rig.status("a")["taking_jobs"] is True
    await a.stop(grace=1)
    assert rig.status("a")["taking_jobs"] is False


async def test_a_detection_job_goes_back_as_well_when_the_worker_is_short(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    disk = Disk(monkeypatch)
    disk.free[rig.work("a")] = SHORT
    looked_in: list[Path] = []

    def detector(path: Path, cancel: threading.Event) -> dict[str, Any]:
        looked_in.append(path)
        return {"state": "nothing_found", "regions": [], "message": "No watermark"}

    a = await rig.worker("a", detector)
    src = rig.tmp / "clip.src"
    src.write_bytes(b"v" * SIZE)
    await rig.objects.put_file("uploads/u1/t1/clip.mp4", src)
    ask = RunDetection(
        task_id="t1",
        user_id="u1",
        request_id="r1",
        inputs=[InputFile(key="uploads/u1/t1/clip.mp4", original_name="clip.mp4", size=SIZE)],
    )
    await rig.bus.publish(JOBS, "watermark", Envelope.wrap(ask, correlation_id="t1"))
    await eventually(lambda: not a.taking_jobs, what="worker a short of space")
    assert looked_in == []

    await rig.worker("b", detector)
    seen = await rig.until("job.detected")
    assert isinstance(seen[-1], DetectionFinished) and seen[-1].detection.state == "nothing_found"
    assert [p.is_relative_to(rig.work("b")) for p in looked_in] == [True]
    await rig.bus.drain()
    assert rig.dead == []
