"""Watermark detection through the API: ask where the mark is on an uploaded draft, see the answer on
the task's status and in its live events, submit with the proposals or with the regions left out.

The product runs in this process (Standalone in a thread), so the watermark pool's detector is
replaced by a stand-in (`FakeDetector`) that answers what the test tells it after checking it was
given the uploaded video. With the real detector merged, these tests keep the API and scheduler
side; the detector's own accuracy is measured by the worker's quality suite.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from mediacraft.worker_watermark import detect
from tests.e2e.flows.client import Visitor
from tests.e2e.flows.conftest import LOGO_BOX, Clips
from tests.fixtures.served_product import ServedProduct

WAIT = 30.0


@dataclass
class FakeDetector:
    """Answers with `answer`; records the files it was given (each must be the uploaded video)."""

    answer: detect.Detection = field(
        default_factory=lambda: detect.Detection(
            state="done", regions=(detect.DetectedRegion(box=LOGO_BOX, confidence=0.93),), message="Found 1 watermark"
        )
    )
    seen: list[int] = field(default_factory=list)
    gate: threading.Event | None = None  # when set, each call waits for it (to hold detections running)

    def __call__(
        self, path: Path, *, cancel: threading.Event | None = None, progress: Any = None, limits: Any = None
    ) -> detect.Detection:
        self.seen.append(path.stat().st_size)
        if self.gate is not None:
            self.gate.wait(WAIT)
        return self.answer


@pytest.fixture(scope="module")
def detector() -> Iterator[FakeDetector]:
    fake = FakeDetector()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(detect, "detect_watermarks", fake)
        yield fake


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, detector: FakeDetector) -> Iterator[ServedProduct]:
    product = ServedProduct(tmp_path_factory.mktemp("detect-standalone"), name="detect-standalone")
    product.start()
    yield product
    product.stop()


@pytest.fixture
def visitor(served: ServedProduct, detector: FakeDetector) -> Iterator[Visitor]:
    detector.answer = FakeDetector().answer
    detector.gate = None
    person = Visitor(served.url, "detector")
    yield person
    person.close()


def uploaded(visitor: Visitor, clips: Clips) -> str:
    task_id = visitor.create("watermark_removal")["task_id"]
    visitor.upload(task_id, clips.watermarked)
    return str(task_id)


def test_detected_regions_are_kept_on_the_task_and_announced_live(
    visitor: Visitor, clips: Clips, detector: FakeDetector, tmp_path: Path
) -> None:
    task_id = uploaded(visitor, clips)
    stream = visitor.events()
    try:
        asked = visitor.call("POST", f"/api/tasks/{task_id}/detect", expect=202)["data"]
        assert asked["status"] == "uploaded" and asked["detection"]["state"] == "pending"
        event = stream.wait_for(
            lambda e: (
                e.name == "status"
                and e.task_id == task_id
                and (e.data.get("task") or {}).get("detection", {}).get("state") == "done"
            ),
            WAIT,
            "a status event with the detection",
        )
    finally:
        stream.close()
    detection = event.data["task"]["detection"]
    assert detection["regions"] == [{"box": list(LOGO_BOX), "confidence": 0.93}]
    assert detection["message"] == "Found 1 watermark"
    assert detection["request_id"] == asked["detection"]["request_id"] and detection["finished_at"]
    assert detector.seen[-1] == clips.watermarked.stat().st_size  # the worker looked at the upload itself
    assert visitor.status(task_id)["detection"] == detection
    assert visitor.status(task_id)["status"] == "uploaded"  # detection submits nothing

    # the person accepts the proposal: submitted with the detected box, cleaned, downloadable
    stream = visitor.events()
    try:
        visitor.submit(task_id, {"regions": [r["box"] for r in detection["regions"]], "method": "delogo"})
        [track] = stream.wait_terminal([task_id], 60).values()
    finally:
        stream.close()
    assert track.status == "completed", track
    assert visitor.download(task_id, tmp_path / "clean.mp4").stat().st_size > 0

    # a submitted task is no longer a draft: 409, and the kept answer is unchanged
    refused = visitor.call("POST", f"/api/tasks/{task_id}/detect", expect=409)
    assert refused["error_code"] == "invalid_state" and refused["code"] == 409
    assert visitor.status(task_id)["detection"] == detection


def test_nothing_found_is_an_answer_and_asking_again_replaces_it(
    visitor: Visitor, clips: Clips, detector: FakeDetector
) -> None:
    task_id = uploaded(visitor, clips)
    detector.answer = detect.Detection(state="nothing_found", regions=(), message="No watermark found")
    first = visitor.data("POST", f"/api/tasks/{task_id}/detect", expect=202)["detection"]["request_id"]
    stream = visitor.events()
    try:
        stream.wait_until(lambda: _detection_state(visitor, task_id) == "nothing_found", WAIT, "nothing found")
        detector.answer = detect.Detection(
            state="cannot_tell", regions=(), message="The picture does not move enough to tell"
        )
        second = visitor.data("POST", f"/api/tasks/{task_id}/detect", expect=202)["detection"]
        assert second["state"] == "pending" and second["request_id"] != first
        stream.wait_until(lambda: _detection_state(visitor, task_id) == "cannot_tell", WAIT, "cannot tell")
    finally:
        stream.close()
    detection = visitor.status(task_id)["detection"]
    assert detection["regions"] == [] and detection["message"] == "The picture does not move enough to tell"


def test_detect_is_refused_before_upload_for_others_and_for_unknown_tasks(
    visitor: Visitor, served: ServedProduct
) -> None:
    draft = visitor.create("watermark_removal")["task_id"]
    refused = visitor.call("POST", f"/api/tasks/{draft}/detect", expect=409)
    assert refused["error_code"] == "upload_required"
    assert visitor.status(draft)["detection"] is None
    stranger = Visitor(served.url, "stranger")
    try:
        assert stranger.call("POST", f"/api/tasks/{draft}/detect", expect=404)["error_code"] == "not_found"
    finally:
        stranger.close()
    assert visitor.call("POST", f"/api/tasks/{uuid.uuid4()}/detect", expect=404)["error_code"] == "not_found"


def test_a_detector_that_breaks_answers_failed_and_the_draft_stays_usable(
    visitor: Visitor, clips: Clips, detector: FakeDetector
) -> None:
    task_id = uploaded(visitor, clips)
    detector.answer = None  # type: ignore[assignment]  # to_dict on None: the detector crashes
    visitor.call("POST", f"/api/tasks/{task_id}/detect", expect=202)
    stream = visitor.events()
    try:
        stream.wait_until(lambda: _detection_state(visitor, task_id) == "failed", WAIT, "a failed detection")
    finally:
        stream.close()
    assert "draw the boxes" in visitor.status(task_id)["detection"]["message"]
    assert visitor.status(task_id)["status"] == "uploaded"


def _detection_state(visitor: Visitor, task_id: str) -> str | None:
    detection = visitor.status(task_id).get("detection")
    return detection["state"] if detection else None


# Regions left out: the worker's processor detects them itself before cleaning.


def test_regions_left_out_are_detected_by_the_worker_and_removed(
    visitor: Visitor, clips: Clips, detector: FakeDetector, tmp_path: Path
) -> None:
    task_id = uploaded(visitor, clips)
    calls = len(detector.seen)
    stream = visitor.events()
    try:
        queued = visitor.submit(task_id, {"method": "auto"})
        assert "regions" not in queued["config"] and queued["config"]["method"] == "auto"
        [track] = stream.wait_terminal([task_id], 120).values()
    finally:
        stream.close()
    assert track.status == "completed", track
    assert len(detector.seen) > calls  # the worker asked the detector
    assert visitor.download(task_id, tmp_path / "clean.mp4").stat().st_size > 0


def test_regions_left_out_and_nothing_found_fails_plainly_without_retries(
    visitor: Visitor, clips: Clips, detector: FakeDetector
) -> None:
    task_id = uploaded(visitor, clips)
    detector.answer = detect.Detection(state="nothing_found", regions=(), message="No watermark found")
    stream = visitor.events()
    try:
        visitor.submit(task_id, {"regions": "auto"})
        [track] = stream.wait_terminal([task_id], 120).values()
    finally:
        stream.close()
    assert track.status == "failed", track
    task = visitor.status(task_id)
    assert task["error"]["code"] == "no_watermark_found" and task["error"]["retryable"] is False
    assert task["attempts"] == 1 and task["retry_count"] == 0
    assert task["error"]["message"]
