"""Detection jobs in the worker runtime: the pool's detector runs in a thread on the downloaded video,
its answer (or a plain failure) goes out as `job.detected`, and nothing is left behind."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from mediacraft.shared.messages import DetectionFinished, Envelope, RunDetection
from mediacraft.shared.tasks import InputFile
from mediacraft.shared.topology import JOBS
from mediacraft.shared.worker.contract import JobContext, ProcessorResult
from tests.fixtures.worker_rig import WorkerRig


def no_processor(ctx: JobContext) -> ProcessorResult:
    raise AssertionError("a detection job never runs the processor")


async def ask(rig: WorkerRig, data: bytes, request_id: str = "r1") -> None:
    src = rig.tmp / "clip.src"
    src.write_bytes(data)
    key = "uploads/u1/t1/clip.mp4"
    await rig.objects.put_file(key, src)
    job = RunDetection(
        task_id="t1",
        user_id="u1",
        request_id=request_id,
        inputs=[InputFile(key=key, original_name="clip.mp4", size=len(data))],
    )
    await rig.bus.publish(JOBS, "watermark", Envelope.wrap(job, correlation_id="t1"))


async def test_the_detector_runs_in_a_thread_on_the_upload_and_its_answer_is_reported(tmp_path: Path) -> None:
    calls: list[tuple[bytes, str, bool]] = []
    loop_thread = threading.current_thread().name

    def detector(path: Path, cancel: threading.Event) -> dict[str, Any]:
        calls.append((path.read_bytes(), threading.current_thread().name, cancel.is_set()))
        return {"state": "done", "regions": [{"box": [4, 5, 60, 20], "confidence": 0.7}], "message": "Found 1"}

    async with WorkerRig(tmp_path, "watermark", no_processor) as rig:
        rig.runtime.detector = detector
        await ask(rig, b"video bytes")
        answer, _ = await rig.until("job.detected")
        assert isinstance(answer, DetectionFinished)
        assert (answer.task_id, answer.request_id) == ("t1", "r1")
        assert answer.detection.state == "done" and answer.detection.message == "Found 1"
        assert answer.detection.regions[0].box == (4, 5, 60, 20)
        assert answer.detection.request_id == "r1"
        [(seen, thread, cancelled)] = calls
        assert seen == b"video bytes" and thread != loop_thread and not cancelled
        assert rig.leftovers() == []


async def test_a_detector_past_its_time_limit_is_told_to_stop_and_the_answer_is_failed(tmp_path: Path) -> None:
    stopped = threading.Event()

    def detector(path: Path, cancel: threading.Event) -> dict[str, Any]:
        if cancel.wait(30):
            stopped.set()
        return {"state": "nothing_found", "regions": [], "message": "late"}

    async with WorkerRig(tmp_path, "watermark", no_processor, detection_time_limit_seconds=0.3) as rig:
        rig.runtime.detector = detector
        await ask(rig, b"x")
        answer, _ = await rig.until("job.detected")
        assert isinstance(answer, DetectionFinished)
        assert answer.detection.state == "failed" and "took too long" in answer.detection.message
        assert stopped.is_set()
        assert rig.leftovers() == []


async def test_an_answer_that_is_not_a_detection_is_a_failed_one(tmp_path: Path) -> None:
    def detector(path: Path, cancel: threading.Event) -> dict[str, Any]:
        return {"state": "maybe", "regions": [], "message": ""}

    async with WorkerRig(tmp_path, "watermark", no_processor) as rig:
        rig.runtime.detector = detector
        await ask(rig, b"x")
        answer, _ = await rig.until("job.detected")
        assert isinstance(answer, DetectionFinished) and answer.detection.state == "failed"
        assert "draw the boxes" in answer.detection.message
