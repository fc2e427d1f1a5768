"""The safe ffmpeg runner with a real ffmpeg: progress, cancel, timeout, size limit, process groups."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import psutil
import pytest

from mediacraft.shared.media import (
    FfmpegProcess,
    FfmpegProgress,
    InvalidMedia,
    LocalResourceError,
    MediaToolUnavailable,
    OutputTooLarge,
    ProcessingTimeout,
    probe_media,
    run_ffmpeg,
)
from mediacraft.shared.worker.contract import JobCancelledError
from tests.integration.media.conftest import ClipLibrary

# A source that never ends, read at its native rate so the run lasts until we stop it.
ENDLESS = ["-re", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25"]


def group_is_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


def is_gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_progress_runs_from_zero_to_one_and_the_output_is_kept(clips: ClipLibrary, tmp_path: Path) -> None:
    source = probe_media(clips.get("2s.mp4", duration=2.0))
    out = tmp_path / "out.mp4"
    seen: list[FfmpegProgress] = []
    result = run_ffmpeg(
        [*source.input_args(), "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "copy", str(out)],
        outputs=[out],
        total_duration=source.duration,
        on_progress=seen.append,
    )
    fractions = [p.fraction for p in seen if p.fraction is not None]
    assert len(fractions) == len(seen)
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and seen[-1].done
    assert result.returncode == 0 and result.progress == seen[-1]
    assert probe_media(out).duration == pytest.approx(2.0, abs=0.1)


def test_timeout_kills_ffmpeg_and_its_process_group(tmp_path: Path) -> None:
    out = tmp_path / "endless.mp4"
    process = FfmpegProcess([*ENDLESS, "-c:v", "libx264", "-preset", "ultrafast", str(out)], outputs=[out], timeout=0.5)
    started = time.monotonic()
    with pytest.raises(ProcessingTimeout) as caught:
        with process:
            pass
    elapsed = time.monotonic() - started
    assert caught.value.code == "processing_timeout"
    assert 0.5 <= elapsed < 2.5
    assert group_is_gone(process.pid)
    assert not out.exists()


def test_cancel_stops_ffmpeg_quickly_and_removes_the_partial_output(tmp_path: Path) -> None:
    out = tmp_path / "partial.mp4"
    cancel = threading.Event()
    cancelled_at: list[float] = []

    def on_progress(p: FfmpegProgress) -> None:
        if p.out_time > 0 and not cancel.is_set():
            assert out.exists()  # ffmpeg really was writing
            cancelled_at.append(time.monotonic())
            cancel.set()

    process = FfmpegProcess(
        [*ENDLESS, "-c:v", "libx264", "-preset", "ultrafast", str(out)],
        outputs=[out],
        cancel_event=cancel,
        on_progress=on_progress,
    )
    with pytest.raises(JobCancelledError):
        with process:
            pass
    assert time.monotonic() - cancelled_at[0] < 2.0
    assert group_is_gone(process.pid)
    assert not out.exists()


def test_a_process_that_ignores_terminate_is_killed_after_the_grace_period(tmp_path: Path) -> None:
    """The whole group goes, including a child the process started."""
    pidfile = tmp_path / "child.pid"
    fake = tmp_path / "fake-ffmpeg"
    fake.write_text(f"#!/bin/sh\ntrap '' TERM\nsleep 60 &\necho $! > {pidfile}\nwait\n")
    fake.chmod(0o755)
    cancel = threading.Event()
    process = FfmpegProcess([], ffmpeg=str(fake), cancel_event=cancel, grace=0.5).start()
    deadline = time.monotonic() + 10
    while not (pidfile.exists() and pidfile.read_text().strip()):
        assert time.monotonic() < deadline, "the fake never started its child"
        time.sleep(0.01)
    child = int(pidfile.read_text())
    cancel.set()
    started = time.monotonic()
    with pytest.raises(JobCancelledError):
        process.wait()
    elapsed = time.monotonic() - started
    assert 0.5 <= elapsed < 2.0
    assert is_gone(process.pid) and is_gone(child)


def test_output_above_the_size_limit_stops_ffmpeg(tmp_path: Path) -> None:
    out = tmp_path / "big.nut"
    limit = 2_000_000
    with pytest.raises(OutputTooLarge) as caught:
        run_ffmpeg(
            ["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25", "-c:v", "rawvideo", "-f", "nut", str(out)],
            outputs=[out],
            max_output_bytes=limit,
            timeout=30,
        )
    assert caught.value.code == "output_too_large"
    assert not out.exists()


def test_ffmpeg_failing_on_bad_media_is_invalid_media_without_paths(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"\x00\x00\x00\x18ftypisom" + os.urandom(4000))
    out = tmp_path / "out.mp4"
    out.write_bytes(b"stale partial output")
    with pytest.raises(InvalidMedia) as caught:
        run_ffmpeg(["-protocol_whitelist", "file", "-f", "mov", "-i", f"file:{garbage}", str(out)], outputs=[out])
    assert caught.value.code == "invalid_media"
    assert str(tmp_path) not in caught.value.message
    assert not out.exists()


def test_a_failing_progress_callback_stops_ffmpeg_and_is_reraised(tmp_path: Path) -> None:
    class Boom(Exception):
        pass

    def explode(p: FfmpegProgress) -> None:
        raise Boom()

    out = tmp_path / "x.mp4"
    process = FfmpegProcess(
        [*ENDLESS, "-c:v", "libx264", "-preset", "ultrafast", str(out)],
        outputs=[out],
        on_progress=explode,
    )
    with pytest.raises(Boom):
        with process:
            pass
    assert group_is_gone(process.pid)
    assert not out.exists()


def test_raw_frames_can_be_read_from_stdout(clips: ClipLibrary) -> None:
    source = probe_media(clips.get("1s-360p.mp4", duration=1.0, width=640, height=360))
    frame_bytes = 640 * 360 * 3 // 2
    frames = 0
    with FfmpegProcess(
        [*source.input_args(), "-map", "0:v:0", "-f", "rawvideo", "-pix_fmt", "yuv420p", "pipe:1"],
        stdout=subprocess.PIPE,
    ) as decoder:
        assert decoder.stdout is not None
        while chunk := decoder.stdout.read(frame_bytes):
            assert len(chunk) == frame_bytes
            frames += 1
    assert frames == 30


def test_cancel_while_a_pipeline_reads_raises_cancelled_not_a_pipe_error() -> None:
    cancel = threading.Event()
    with pytest.raises(JobCancelledError):
        with FfmpegProcess(
            [*ENDLESS, "-f", "rawvideo", "-pix_fmt", "yuv420p", "pipe:1"], stdout=subprocess.PIPE, cancel_event=cancel
        ) as decoder:
            assert decoder.stdout is not None
            decoder.stdout.read(320 * 240 * 3 // 2)
            cancel.set()
            while decoder.stdout.read(65536):
                pass
            raise BrokenPipeError("the pipeline saw its source vanish")


def test_a_missing_ffmpeg_is_reported_as_such() -> None:
    with pytest.raises(MediaToolUnavailable):
        run_ffmpeg(["-version"], ffmpeg="/nonexistent/ffmpeg")


def test_ffmpeg_stopped_from_outside_is_retryable_not_bad_input(tmp_path: Path) -> None:
    out = tmp_path / "x.mp4"
    process = FfmpegProcess([*ENDLESS, "-c:v", "libx264", "-preset", "ultrafast", str(out)], outputs=[out]).start()
    deadline = time.monotonic() + 10
    while not out.exists():  # wait until ffmpeg is really working
        assert time.monotonic() < deadline
        time.sleep(0.01)
    os.killpg(process.pid, signal.SIGTERM)
    with pytest.raises(LocalResourceError) as caught:
        process.wait()
    assert caught.value.code == "tool_killed"
    assert not out.exists()


@pytest.mark.parametrize("muxer", ["mp4", "nut"])  # mp4 fails at its header; nut only logs its trailer's failure
def test_ffmpeg_out_of_space_is_a_retryable_disk_full(muxer: str) -> None:
    # /dev/full answers every write with ENOSPC, as a full scratch disk does
    with pytest.raises(LocalResourceError) as caught:
        run_ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=1", "-f", muxer, "-y", "/dev/full"])
    assert caught.value.code == "disk_full"
