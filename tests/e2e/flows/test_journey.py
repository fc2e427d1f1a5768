"""A visitor's whole journey through the public HTTP API, in both modes (standalone, local stack).

Alice arrives and gets a cookie, removes a watermark (upload, preview frame, pick the logo, submit,
follow the live stream, download), merges three clips, submits ten tasks back to back while Bob's
task runs beside them, cancels, retries a failure; Carol sees none of it; the server restarts and
Alice, with the same cookie, finds everything as she left it.

Image generations go to a generation service the test runs (`backend.GenerationBackend`, through
the product's HTTP provider): it refuses a prompt until the test lifts the refusal, and holds a
job for as long as the test needs, so the failure, the fix and the running job to cancel happen
exactly when the test wants.

Each piece of work is a module fixture that does what a client does and records what it saw; the
tests assert on those records, and the restart test needs all of them, so it runs last.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.flows.backend import GenerationBackend
from tests.e2e.flows.client import TERMINAL, ApiFailure, TaskTrack, Visitor
from tests.e2e.flows.conftest import LOGO_BOX, Clips, backend_settings
from tests.e2e.flows.media import decodes, find_logo, psnr, region_luma, streams
from tests.e2e.flows.product import STACK, ProductProcess

pytestmark = pytest.mark.slow

JOB_TIMEOUT = 90.0  # one small job from submit to its end; on two cores it takes a few seconds
BATCH = 10
PREVIEW_FRAME = 12


def at(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def final_states(tasks: dict[str, dict[str, Any]]) -> dict[str, tuple[str, int]]:
    return {task_id: (t["status"], t["attempts"]) for task_id, t in tasks.items()}


@pytest.fixture(scope="module")
def product_settings(backend: GenerationBackend) -> dict[str, str]:
    return backend_settings(backend)


@pytest.fixture(scope="module")
def outdir(product: ProductProcess, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp(f"downloads-{product.mode}")


@pytest.fixture(scope="module")
def alice(visitors: Callable[[str], Visitor]) -> Visitor:
    visitor = visitors("alice")
    visitor.info()  # her first request: the cookie is set from here on
    return visitor


# --- the work, done once per mode ---------------------------------------------------------------


@dataclass(frozen=True)
class WatermarkJob:
    task_id: str
    uploaded: dict[str, Any]
    preview: Any  # the httpx response of the frame
    picked: tuple[int, int, int, int]
    track: TaskTrack
    final: dict[str, Any]
    result: Path


@pytest.fixture(scope="module")
def watermark_job(alice: Visitor, clips: Clips, outdir: Path) -> WatermarkJob:
    """Create, upload, look at a frame, pick the logo on it, submit, follow the stream, download."""
    with alice.events() as stream:
        task_id = alice.create("watermark_removal")["task_id"]
        uploaded = alice.upload(task_id, clips.watermarked)
        preview = alice.preview(task_id, frame=PREVIEW_FRAME)
        picked = find_logo(preview.content)
        alice.submit(task_id, {"regions": [list(picked)], "selected_frame": PREVIEW_FRAME, "method": "inpaint"})
        stream.wait_terminal([task_id], JOB_TIMEOUT)
        track = stream.tracks[task_id]
    final = alice.status(task_id)
    result = alice.download(task_id, outdir / "cleaned.mp4")
    return WatermarkJob(task_id, uploaded, preview, picked, track, final, result)


@dataclass(frozen=True)
class MergeJob:
    task_id: str
    track: TaskTrack
    final: dict[str, Any]
    result: Path


@pytest.fixture(scope="module")
def merge_job(alice: Visitor, clips: Clips, outdir: Path) -> MergeJob:
    """Three clips of two sizes, uploaded in one request, merged in upload order."""
    with alice.events() as stream:
        task_id = alice.create("video_merge")["task_id"]
        alice.upload(task_id, *clips.parts)
        alice.submit(task_id, {})
        stream.wait_terminal([task_id], JOB_TIMEOUT)
        track = stream.tracks[task_id]
    return MergeJob(task_id, track, alice.status(task_id), alice.download(task_id, outdir / "merged.mp4"))


@dataclass(frozen=True)
class BatchRun:
    batch: list[dict[str, Any]]  # final views, in submission order
    most_running: int  # the most of Alice's tasks the stream ever showed processing at once
    bob: Visitor
    bob_task: dict[str, Any]
    carol: Visitor
    carol_events: list[Any]  # what Carol's own stream carried meanwhile


@pytest.fixture(scope="module")
def batch_run(
    alice: Visitor,
    visitors: Callable[[str], Visitor],
    clips: Clips,
    backend: GenerationBackend,
    watermark_job: WatermarkJob,
    merge_job: MergeJob,
) -> BatchRun:
    """Alice submits ten image generations back to back, then Bob submits a merge; Carol watches her own stream.

    The service holds Alice's first image until Bob's task has started: Bob must not wait behind
    Alice's batch, and his task runs beside hers whatever the speed of the machine.
    """
    first = "batch image 0"
    backend.hold(first)
    bob, carol = visitors("bob"), visitors("carol")
    bob_task_id = bob.create("video_merge")["task_id"]
    bob.upload(bob_task_id, clips.parts[0], clips.parts[2])
    most = [0]
    with alice.events() as mine, bob.events() as bobs, carol.events() as carols:

        def count_running(_task_id: str, _track: TaskTrack) -> None:
            running = sum(1 for t in mine.tracks.values() if t.status in ("processing", "cancelling"))
            most[0] = max(most[0], running)

        mine.observers.append(count_running)
        ids = [alice.generate_image(f"batch image {n}", 256, 256, seed=n) for n in range(BATCH)]
        bob.submit(bob_task_id, {})
        bobs.wait_until(lambda: bobs.status_of(bob_task_id) == "processing", JOB_TIMEOUT, "Bob's task starting")
        backend.release(first)
        bobs.wait_terminal([bob_task_id], JOB_TIMEOUT)
        mine.wait_terminal(ids, JOB_TIMEOUT * 2)
        carol_events = carols.drain()
    return BatchRun([alice.status(t) for t in ids], most[0], bob, bob.status(bob_task_id), carol, carol_events)


@dataclass(frozen=True)
class CancelRun:
    running: dict[str, Any]
    waiting: dict[str, Any]
    running_track: TaskTrack
    waiting_track: TaskTrack
    download_refused: dict[str, Any]


HELD = "held by the backend until cancelled"
REFUSED = "refused by the backend at first"


@pytest.fixture(scope="module")
def cancel_run(alice: Visitor, backend: GenerationBackend, batch_run: BatchRun) -> CancelRun:
    """A generation the backend holds, cancelled while it runs; the task waiting behind it, cancelled in the queue."""
    backend.hold(HELD)
    with alice.events() as stream:
        held_id = alice.generate_image(HELD)
        waiting_id = alice.generate_image("waits behind the held one")
        stream.wait_until(
            lambda: stream.status_of(held_id) == "processing" and stream.status_of(waiting_id) is not None,
            JOB_TIMEOUT,
            "the held task starting",
        )
        assert stream.status_of(waiting_id) == "queued", "one task per user runs at a time: the second must wait"
        alice.cancel(waiting_id)
        alice.cancel(held_id)
        stream.wait_terminal([held_id, waiting_id], JOB_TIMEOUT)
        tracks = stream.tracks[held_id], stream.tracks[waiting_id]
    backend.release(HELD)  # the worker hung up on cancel; let the service's thread go
    refused = alice.call("GET", f"/api/tasks/{held_id}/download", expect=409)
    return CancelRun(alice.status(held_id), alice.status(waiting_id), *tracks, refused)


@dataclass(frozen=True)
class RetryRun:
    failed: dict[str, Any]  # after the first attempt
    fixed: dict[str, Any]  # after the manual retry
    failing_track: TaskTrack
    revived: dict[str, Any]  # the cancelled waiting task, retried
    revived_track: TaskTrack
    backend_prompts: list[str]  # what the backend was asked meanwhile


@pytest.fixture(scope="module")
def retry_run(alice: Visitor, backend: GenerationBackend, cancel_run: CancelRun) -> RetryRun:
    """A generation the backend refuses (fails at once, not retryable); the refusal is lifted and
    the task retried by hand until it completes. And the task cancelled while waiting, retried."""
    backend.refused.add(REFUSED)
    asked_before = len(backend.prompts())  # the backend serves both modes' products in turn
    with alice.events() as stream:
        failing_id = alice.generate_image(REFUSED, 160, 96)
        stream.wait_terminal([failing_id], JOB_TIMEOUT)
        failed = alice.status(failing_id)
        first_version = stream.tracks[failing_id].version
        backend.refused.discard(REFUSED)
        alice.retry(failing_id)
        stream.wait_until(
            lambda: stream.tracks[failing_id].version > first_version and stream.status_of(failing_id) in TERMINAL,
            JOB_TIMEOUT,
            "the retried task finishing",
        )
        revived_id = cancel_run.waiting["task_id"]
        alice.retry(revived_id)
        stream.wait_until(
            lambda: (
                stream.status_of(revived_id) in TERMINAL
                and stream.tracks[revived_id].version > cancel_run.waiting["version"]
            ),
            JOB_TIMEOUT,
            "the revived task finishing",
        )
        tracks = stream.tracks[failing_id], stream.tracks[revived_id]
    return RetryRun(
        failed,
        alice.status(failing_id),
        tracks[0],
        alice.status(revived_id),
        tracks[1],
        backend.prompts()[asked_before:],
    )


# --- what the journey shows ---------------------------------------------------------------------


def test_a_new_visitor_gets_a_signed_cookie_that_identifies_them(visitors: Callable[[str], Visitor]) -> None:
    visitor = visitors("newcomer")
    first = visitor.http.get("/api/user/info")
    set_cookie = first.headers.get("set-cookie", "")
    assert first.status_code == 200 and set_cookie.startswith("mc_uid="), set_cookie
    assert "httponly" in set_cookie.lower() and "samesite=lax" in set_cookie.lower()
    user_id = first.json()["data"]["user_id"]
    again = visitor.http.get("/api/user/info")
    assert again.json()["data"]["user_id"] == user_id and "set-cookie" not in again.headers
    assert visitor.tasks()["tasks"] == []
    stranger = visitors("stranger")
    assert stranger.info()["user_id"] != user_id


def test_a_watermark_is_removed_from_an_uploaded_clip(watermark_job: WatermarkJob, clips: Clips) -> None:
    job = watermark_job
    media = job.uploaded["inputs"][0]["media"]
    assert (media["width"], media["height"]) == (640, 360) and abs(media["duration"] - 2.0) <= 0.1
    assert job.uploaded["status"] == "uploaded"

    assert job.preview.headers["content-type"] == "image/jpeg" and job.preview.content[:3] == b"\xff\xd8\xff"
    assert (job.preview.headers["x-frame-width"], job.preview.headers["x-frame-height"]) == ("640", "360")
    assert all(abs(a - b) <= 2 for a, b in zip(job.picked, LOGO_BOX, strict=True)), (
        f"picked {job.picked} on the preview"
    )

    assert job.track.statuses == ["created", "uploaded", "queued", "processing", "completed"]
    assert job.track.progress == sorted(job.track.progress) and job.track.progress, "live progress on the stream"
    assert job.final["status"] == "completed" and job.final["progress"] == 100
    assert job.final["config"]["regions"] == [list(job.picked)]
    assert job.final["download_url"] == f"/api/tasks/{job.task_id}/download"
    assert job.track.view is not None, "status events carry the task's view"
    assert job.track.view["download_url"] == job.final["download_url"], "the stream's last word links the result"

    source, cleaned = streams(clips.watermarked), streams(job.result)
    assert (cleaned.video["width"], cleaned.video["height"]) == (640, 360)
    assert cleaned.audio is not None, "the sound is kept"
    assert abs(cleaned.duration - source.duration) <= 0.1
    assert decodes(job.result) == decodes(clips.watermarked)
    before = psnr(region_luma(clips.truth, LOGO_BOX), region_luma(clips.watermarked, LOGO_BOX))
    after = psnr(region_luma(clips.truth, LOGO_BOX), region_luma(job.result, LOGO_BOX))
    assert before < 16, f"the test logo should be plainly visible ({before:.1f} dB)"
    assert after >= 22, f"{after:.1f} dB inside the logo box after removal"


def test_three_clips_are_merged_into_one_playable_video(merge_job: MergeJob, clips: Clips) -> None:
    assert merge_job.track.statuses[-3:] == ["queued", "processing", "completed"]
    assert merge_job.final["status"] == "completed" and len(merge_job.final["inputs"]) == 3
    merged = streams(merge_job.result)
    parts = [streams(p) for p in clips.parts]
    assert merged.audio is not None
    assert abs(merged.duration - sum(p.duration for p in parts)) <= 0.15
    assert decodes(merge_job.result) == sum(decodes(p) for p in clips.parts)
    result_media = merge_job.final["result"]["media"]
    assert (merged.video["width"], merged.video["height"]) == (result_media["width"], result_media["height"])


def test_one_user_runs_one_task_at_a_time_while_another_user_runs_beside(batch_run: BatchRun) -> None:
    batch = batch_run.batch
    assert [t["status"] for t in batch] == ["completed"] * BATCH
    most = batch_run.most_running
    assert most == 1, f"the stream showed {most} of Alice's tasks processing at once"
    spans = sorted((at(t["started_at"]), at(t["completed_at"])) for t in batch)
    for (_, done), (started, _) in pairwise(spans):
        assert started >= done, "a task of Alice's started before her previous one had finished"
    bob = batch_run.bob_task
    assert bob["status"] == "completed"
    bob_start, bob_end = at(bob["started_at"]), at(bob["completed_at"])
    assert bob_start < spans[-1][1], "Bob's task waited for Alice's whole batch"
    beside = any(start < bob_end and bob_start < end for start, end in spans)
    assert beside, "Bob's task never ran beside one of Alice's"


def test_a_running_and_a_waiting_task_are_cancelled(cancel_run: CancelRun) -> None:
    assert cancel_run.running["status"] == "cancelled" and cancel_run.waiting["status"] == "cancelled"
    assert cancel_run.running_track.statuses[-3:] == ["processing", "cancelling", "cancelled"]
    assert "processing" not in cancel_run.waiting_track.statuses
    assert cancel_run.running["result"] is None and cancel_run.running["download_url"] is None
    assert cancel_run.download_refused["error_code"] == "not_ready"


def test_a_failed_task_completes_when_retried_after_the_cause_is_gone(
    retry_run: RetryRun,
    alice: Visitor,
    outdir: Path,
) -> None:
    failed, fixed = retry_run.failed, retry_run.fixed
    assert failed["status"] == "failed" and failed["attempts"] == 1, "a refusal is not retried on its own"
    assert failed["error"]["code"] == "generation_rejected" and failed["error"]["retryable"] is False
    assert REFUSED in (failed["error"]["message"] or ""), "the person sees the backend's reason"
    assert fixed["status"] == "completed" and fixed["attempts"] == 2 and fixed["error"] is None
    assert retry_run.failing_track.statuses[-4:] == ["failed", "queued", "processing", "completed"]
    assert retry_run.backend_prompts.count(REFUSED) == 2, "the retry called the backend again"
    image = alice.download(fixed["task_id"], outdir / "fixed.png")
    assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert retry_run.revived["status"] == "completed" and retry_run.revived["download_url"]
    assert retry_run.revived_track.statuses[-3:] == ["queued", "processing", "completed"]


def test_another_user_sees_none_of_it(
    alice: Visitor,
    watermark_job: WatermarkJob,
    merge_job: MergeJob,
    batch_run: BatchRun,
    cancel_run: CancelRun,
    retry_run: RetryRun,
) -> None:
    carol = batch_run.carol
    assert carol.tasks() == {"tasks": [], "next_cursor": None, "counts": {}}
    assert batch_run.carol_events == [], "Carol's stream carried someone else's events"
    alices = [
        watermark_job.task_id,
        merge_job.task_id,
        batch_run.batch[0]["task_id"],
        cancel_run.running["task_id"],
        retry_run.failed["task_id"],
    ]
    for task_id in alices:
        for method, path in (("GET", "status"), ("GET", "download"), ("POST", "cancel"), ("POST", "retry")):
            doc = carol.call(method, f"/api/tasks/{task_id}/{path}", expect=404)
            assert doc["error_code"] == "not_found"
    assert carol.call("GET", f"/api/tasks/{watermark_job.task_id}/preview", expect=404)["error_code"] == "not_found"
    assert [t["task_id"] for t in batch_run.bob.all_tasks()] == [batch_run.bob_task["task_id"]]
    assert alice.status(watermark_job.task_id)["status"] == "completed"


def test_the_first_user_returns_after_a_restart_and_finds_everything(
    product: ProductProcess,
    alice: Visitor,
    outdir: Path,
    watermark_job: WatermarkJob,
    merge_job: MergeJob,
    batch_run: BatchRun,
    cancel_run: CancelRun,
    retry_run: RetryRun,
) -> None:
    before = {t["task_id"]: t for t in alice.all_tasks()}
    assert len(before) == 2 + BATCH + 2 + 1 and all(t["status"] in TERMINAL for t in before.values())
    user_id = alice.info()["user_id"]

    code = product.stop()
    assert code == 0, f"the {product.mode} product did not exit cleanly on Ctrl-C:\n{product.log_tail()}"
    assert ("stack stopped" if product.mode == STACK else "standalone stopped") in product.run_log()
    product.start()

    assert alice.info()["user_id"] == user_id
    after = {t["task_id"]: t for t in alice.all_tasks()}
    assert after.keys() == before.keys()
    assert final_states(after) == final_states(before)
    again = alice.download(watermark_job.task_id, outdir / "cleaned-again.mp4")
    assert sha256(again) == sha256(watermark_job.result)
    merged_again = alice.download(merge_job.task_id, outdir / "merged-again.mp4")
    assert sha256(merged_again) == sha256(merge_job.result)
    for task in batch_run.batch:
        image = alice.download(task["task_id"], outdir / f"{task['task_id']}.png")
        assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ApiFailure):
        batch_run.carol.download(watermark_job.task_id, outdir / "never.mp4")
