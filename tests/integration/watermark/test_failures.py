"""Bad jobs fail with a stable code and a cancel stops ffmpeg fast; neither leaves anything behind."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from mediacraft.shared.errors import InvalidInput
from mediacraft.shared.worker.contract import JobCancelledError
from mediacraft.worker_watermark.processor import WatermarkOptions, WatermarkProcessor, process
from tests.integration.watermark.conftest import BOX, JobRun, run_in_thread


def _ffmpeg_children() -> list[psutil.Process]:
    children = []
    for child in psutil.Process().children(recursive=True):
        try:
            if child.name() == "ffmpeg" and child.status() != psutil.STATUS_ZOMBIE:
                children.append(child)
        except psutil.NoSuchProcess:
            continue
    return children


@pytest.mark.parametrize("method", ["inpaint", "delogo"])
@pytest.mark.parametrize(
    ("regions", "code"),
    [
        ([[1280, 0, 50, 50]], "invalid_regions"),
        ([list(BOX), [-100, 300, 90, 40]], "invalid_regions"),
        ([[10, 10, 0, 5]], "invalid_config"),
    ],  # the codes the gateway answers at submit (shared contract)
)
def test_regions_outside_the_frame_fail_before_any_output(
    method: str,
    regions: list[list[int]],
    code: str,
    watermarked_720p: Path,
    job: Callable[[Path], JobRun],
) -> None:
    run = job(watermarked_720p)
    with pytest.raises(InvalidInput) as caught:
        process(run.context({"regions": regions, "method": method}))
    assert caught.value.code == code
    assert run.leftovers() == []


def test_a_page_named_mp4_is_refused_before_ffmpeg_runs(tmp_path: Path, job: Callable[[Path], JobRun]) -> None:
    page = tmp_path / "page.mp4"
    page.write_bytes(b"<!DOCTYPE html><html><body>not a video</body></html>\n")
    run = job(page)
    with pytest.raises(InvalidInput) as caught:
        process(run.context({"regions": [list(BOX)]}))
    assert caught.value.code == "unsupported_format"
    assert run.leftovers() == []


def test_a_second_input_is_refused(watermarked_720p: Path, job: Callable[[Path], JobRun]) -> None:
    run = job(watermarked_720p)
    ctx = run.context({"regions": [list(BOX)]})
    ctx.inputs.append(run.input)
    with pytest.raises(InvalidInput) as caught:
        process(ctx)
    assert caught.value.code == "wrong_input_count"


@pytest.mark.parametrize("method", ["inpaint", "delogo"])
def test_cancel_while_encoding_stops_ffmpeg_within_two_seconds_and_cleans_up(
    method: str,
    long_720p: Path,
    job: Callable[[Path], JobRun],
) -> None:
    run = job(long_720p)
    cancelled_at: list[float] = []
    ffmpeg_running: list[int] = []

    def cancel_on_first_frames(fraction: float, detail: str) -> None:
        # Progress is reported once frames are flowing: cancel right then, mid-encode.
        if detail == method and not cancelled_at:
            ffmpeg_running.append(len(_ffmpeg_children()))
            cancelled_at.append(time.monotonic())
            run.cancel_event.set()

    run.on_report = cancel_on_first_frames
    thread, outcome = run_in_thread(process, run.context({"regions": [list(BOX)], "method": method}))
    thread.join(timeout=60)
    assert not thread.is_alive()

    assert cancelled_at, "the job ended before any progress was reported"
    assert ffmpeg_running[0] >= 1, "ffmpeg was not running when the cancel arrived"
    assert isinstance(outcome.get("error"), JobCancelledError), outcome
    assert outcome["ended"] - cancelled_at[0] < 2.0
    assert max((f for f, _ in run.reports), default=0) < 1.0  # it really stopped part-way
    assert _ffmpeg_children() == []
    assert run.leftovers() == []


@pytest.mark.parametrize("method", ["inpaint", "delogo"])
def test_an_output_over_the_size_limit_fails_with_its_own_code_and_is_removed(
    method: str,
    watermarked_720p: Path,
    job: Callable[[Path], JobRun],
) -> None:
    # The encoder is stopped mid-stream: the inpaint pipeline sees a broken pipe, and must still
    # report why the encoder stopped rather than the pipe error.
    processor = WatermarkProcessor(WatermarkOptions(max_output_bytes=20_000))
    run = job(watermarked_720p)
    with pytest.raises(InvalidInput) as caught:
        processor(run.context({"regions": [list(BOX)], "method": method}))
    assert caught.value.code == "output_too_large"
    assert _ffmpeg_children() == []
    assert run.leftovers() == []


def test_a_cancel_before_start_runs_nothing(watermarked_720p: Path, job: Callable[[Path], JobRun]) -> None:
    run = job(watermarked_720p)
    run.cancel_event.set()
    started = threading.Event()
    run.on_report = lambda fraction, detail: started.set()
    with pytest.raises(JobCancelledError):
        process(run.context({"regions": [list(BOX)]}))
    assert not started.is_set()
    assert run.leftovers() == []
