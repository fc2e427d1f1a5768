"""The worker runtime with a processor that declares its stages and returns several files."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest

from mediacraft.shared.messages import JobProgress, JobSucceeded
from mediacraft.shared.tasks import SubTaskStatus
from mediacraft.shared.worker.contract import ExtraOutput, JobContext, ProcessorResult
from mediacraft.shared.worker.progress import Stage
from tests.integration.worker.test_runtime import Harness

GATE = threading.Event()  # set by the test once it has seen the second stage running


def staged(ctx: JobContext) -> ProcessorResult:
    ctx.stage("first")
    ctx.report(0.5, "half of the first")
    ctx.report(1.0, "first done")
    ctx.stage("second")
    out = ctx.workdir / "main.bin"
    shutil.copyfile(ctx.inputs[0], out)
    (ctx.workdir / "side.jpg").write_bytes(b"\xff\xd8side")
    ctx.report(0.25, "copied")
    if not GATE.wait(timeout=10):
        raise AssertionError("the test never saw the second stage")
    return ProcessorResult(
        path=out,
        content_type="application/octet-stream",
        filename="main.bin",
        extras=[ExtraOutput("side", ctx.workdir / "side.jpg", "image/jpeg", "side.jpg", {"n": 1})],
    )


staged.stages = (Stage("first", 1), Stage("second", 3))  # type: ignore[attr-defined]


async def test_declared_stages_are_reported_in_order_and_every_output_is_uploaded(tmp_path: Path) -> None:
    GATE.clear()
    async with Harness(tmp_path, staged) as h:
        try:
            await check_the_run(h)
        finally:
            GATE.set()


async def check_the_run(h: Harness) -> None:
    job = await h.submit(size=4096)
    seen = []
    while True:
        event = await h.next_event()
        seen.append(event)
        if isinstance(event, JobProgress) and event.stage == "second":
            break
    assert event.subtasks is not None
    assert [(s.name, s.status.value, s.progress, s.message) for s in event.subtasks] == [
        ("download", "completed", 100.0, None),
        ("first", "completed", 100.0, "first done"),
        ("second", "running", 25.0, "copied"),
        ("upload", "pending", 0.0, None),
    ]
    assert event.percent == pytest.approx(10 + 85 * (1 + 3 * 0.25) / 4, abs=0.1)
    GATE.set()
    done, rest = await h.until("job.succeeded")
    assert isinstance(done, JobSucceeded)
    seen += rest
    result = done.result
    assert result.key == f"results/{job.task_id}/1/main.bin"
    side = result.output("side")
    assert side is not None and side.key == f"results/{job.task_id}/1/side.jpg"
    assert (side.size, side.content_type, side.info) == (len(b"\xff\xd8side"), "image/jpeg", {"n": 1})
    assert result.keys() == [result.key, side.key]
    assert await h.objects.stat(side.key) is not None
    progress = [m for m in seen if isinstance(m, JobProgress)]
    assert progress and all(m.subtasks is not None for m in progress)
    for event in progress:
        assert event.subtasks is not None
        assert [s.name for s in event.subtasks] == ["download", "first", "second", "upload"]
    percents = [m.percent for m in progress]
    assert percents == sorted(percents)
    last = progress[-1].subtasks
    assert last is not None
    # a stage is completed before the next one runs
    for event in progress:
        assert event.subtasks is not None
        statuses = [s.status for s in event.subtasks]
        running = [i for i, s in enumerate(statuses) if s is SubTaskStatus.RUNNING]
        assert all(statuses[i] is SubTaskStatus.COMPLETED for i in range(min(running, default=0)))
    assert h.leftovers() == []
