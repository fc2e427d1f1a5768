"""The video library end to end, on the single-process product with nothing configured: a
watermark result becomes a video, it is reprocessed in the background (202 at once, 409 on a
second start while it runs), every subtask reaches completed, the rendition plays and the poster
and storyboard are decodable images."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from tests.e2e.flows.client import Visitor
from tests.e2e.flows.conftest import LOGO_BOX, Clips
from tests.e2e.flows.media import decodes, streams
from tests.fixtures.served_product import ServedProduct
from tests.fixtures.waiting import poll

WAIT = 90.0
STAGES = ["download", "probe", "rendition", "poster", "storyboard", "upload"]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedProduct]:
    product = ServedProduct(tmp_path_factory.mktemp("videos-standalone"), name="videos-standalone")
    product.start()
    yield product
    product.stop()


@pytest.fixture
def visitor(served: ServedProduct) -> Iterator[Visitor]:
    person = Visitor(served.url, "librarian")
    yield person
    person.close()


def fetch(visitor: Visitor, path: str, target: Path) -> Path:
    reply = visitor.http.get(path)
    assert reply.status_code == 200, f"{path} -> {reply.status_code}: {reply.text[:300]}"
    target.write_bytes(reply.content)
    return target


def image(path: Path) -> np.ndarray:
    decoded = cv2.imdecode(np.frombuffer(path.read_bytes(), dtype=np.uint8), cv2.IMREAD_COLOR)
    assert decoded is not None, f"{path.name} is not a decodable image"
    return decoded


def cleaned_video(visitor: Visitor, clips: Clips) -> dict[str, Any]:
    """A watermark removal run to completion: its result, as the video library lists it."""
    task_id = visitor.create("watermark_removal")["task_id"]
    visitor.upload(task_id, clips.watermarked)
    visitor.submit(task_id, {"regions": [list(LOGO_BOX)], "method": "delogo"})
    poll(lambda: visitor.status(task_id)["status"] == "completed", timeout=WAIT, what="the watermark removal")
    listed = visitor.data("GET", "/api/v1/videos")["videos"]
    results = [v for v in listed if v["source_task_id"] == task_id and v["source"] == "result"]
    assert len(results) == 1, listed
    return results[0]


def test_a_watermark_result_is_reprocessed_into_a_rendition_a_poster_and_a_storyboard(
    visitor: Visitor, clips: Clips, tmp_path: Path
) -> None:
    video = cleaned_video(visitor, clips)
    vid = video["video_id"]
    assert video["duration"] == pytest.approx(2.0, abs=0.2) and video["reprocess_status"] is None

    asked = time.monotonic()
    started = visitor.call("POST", f"/api/v1/videos/{vid}/run_sync", expect=202)
    assert time.monotonic() - asked < 1.0  # answered at once, the work runs in the background
    answer = started["data"]
    assert (answer["video_id"], answer["status"]) == (vid, "queued") and answer["message"]
    task_id, poll_url = answer["task_id"], answer["poll_url"]

    again = visitor.call("POST", f"/api/v1/videos/{vid}/run_sync", expect=409)
    assert again["error_code"] == "reprocess_running" and again["data"]["task_id"] == task_id

    seen: list[dict[str, Any]] = []

    def finished() -> bool:
        progress = visitor.data("GET", poll_url)
        seen.append(progress)
        return bool(progress["finished"])

    poll(finished, timeout=WAIT, what="the reprocess", interval=0.05)
    done = seen[-1]
    assert done["status"] == "completed", done
    assert done["progress"] == 100.0 and done["started_at"] and done["finished_at"]
    assert [s["name"] for s in done["subtasks"]] == STAGES
    assert all(s["status"] == "completed" and s["progress"] == 100.0 for s in done["subtasks"]), done
    # each of the processor's stages says what it did
    assert all(s["message"] for s in done["subtasks"] if s["name"] not in ("download", "upload")), done
    percents = [p["progress"] for p in seen]
    assert percents == sorted(percents)  # overall progress never moves back
    for progress in seen:  # stages are reported in their declared order
        names = [s["name"] for s in progress["subtasks"]]
        assert names in ([], STAGES), names

    # an ordinary task of the task list
    assert visitor.status(task_id)["task_type"] == "video_reprocess"
    assert visitor.status(task_id)["subtasks"] == done["subtasks"]

    after = visitor.data("GET", f"/api/v1/videos/{vid}")
    assert after["reprocess_status"] == "completed" and after["reprocess_task_id"] == task_id

    rendition = fetch(visitor, after["files"]["rendition"], tmp_path / "rendition.mp4")
    played = streams(rendition)
    assert played.video["codec_name"] == "h264" and played.audio is not None and played.audio["codec_name"] == "aac"
    assert (played.video["width"], played.video["height"]) == (640, 360)
    assert played.duration == pytest.approx(2.0, abs=0.2)
    assert decodes(rendition) >= 55
    head = rendition.read_bytes()[:8192]
    assert 0 <= head.find(b"moov") < head.find(b"mdat") or b"mdat" not in head  # +faststart: the index first

    poster = image(fetch(visitor, after["files"]["poster"], tmp_path / "poster.jpg"))
    assert poster.shape[:2] == (360, 640)
    board = after["storyboard"]
    sprite = image(fetch(visitor, after["files"]["storyboard"], tmp_path / "storyboard.jpg"))
    assert sprite.shape[:2] == (board["rows"] * board["tile_height"], board["columns"] * board["tile_width"])

    # finished: the video can be reprocessed again
    visitor.call("POST", f"/api/v1/videos/{vid}/run_sync", expect=202)


def test_another_visitors_video_is_not_found(served: ServedProduct, visitor: Visitor, clips: Clips) -> None:
    task_id = visitor.create("watermark_removal")["task_id"]
    visitor.upload(task_id, clips.truth)
    [video] = [v for v in visitor.data("GET", "/api/v1/videos")["videos"] if v["source_task_id"] == task_id]
    stranger = Visitor(served.url, "stranger")
    try:
        for method, path in (
            ("GET", f"/api/v1/videos/{video['video_id']}"),
            ("POST", f"/api/v1/videos/{video['video_id']}/run_sync"),
            ("GET", f"/api/v1/videos/{video['video_id']}/reprocess"),
        ):
            assert stranger.call(method, path, expect=404)["error_code"] == "not_found"
        assert stranger.data("GET", "/api/v1/videos")["videos"] == []
    finally:
        stranger.close()
