"""Fixtures for the watermark worker: generated clips with and without a watermark box, a plain
re-encode at the worker's encoder settings, decoded luma planes, and a job directory runner."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mediacraft.shared.worker.contract import JobContext, ProcessorResult
from mediacraft.worker_watermark.processor import WatermarkOptions
from tests.fixtures.availability import unavailable
from tests.fixtures.media import make_clip

WIDTH, HEIGHT = 1280, 720
# A 180x60 logo over a flat bar, where the white box sits ~13 dB below the clean frame.
BOX = (440, 40, 180, 60)
CLIP: dict[str, Any] = {"width": WIDTH, "height": HEIGHT, "fps": 30, "duration": 2.0}
OPTIONS = WatermarkOptions()


def decode_luma(path: Path, width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    """Every frame's Y plane, decoded by ffmpeg: shape (frames, height, width), uint8."""
    raw = subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "gray", "pipe:1"],
        check=True,
        capture_output=True,
    ).stdout
    return np.frombuffer(raw, dtype=np.uint8).reshape(-1, height, width)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio of two uint8 arrays of frames, in dB (inf when identical)."""
    squared, count = 0, 0
    for frame_a, frame_b in zip(a, b, strict=True):  # frame by frame: whole clips in int64 are big
        diff = frame_a.astype(np.int64) - frame_b
        squared += int(np.vdot(diff, diff))
        count += diff.size
    return float("inf") if squared == 0 else float(10 * np.log10(255.0**2 * count / squared))


@dataclass(frozen=True)
class Sample:
    """The watermarked clip, its ground truth, and the plain re-encode of the watermarked clip."""

    watermarked: Path
    clean_luma: np.ndarray
    watermarked_luma: np.ndarray
    plain_luma: np.ndarray


@pytest.fixture(scope="session")
def ffmpeg_tools() -> None:
    """ffmpeg and ffprobe must be installed (skip on a laptop without them, fail in CI)."""
    for tool in ("ffmpeg", "ffprobe"):
        if shutil.which(tool) is None:
            unavailable(f"{tool} is not installed")


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory, ffmpeg_tools: None) -> Path:
    return tmp_path_factory.mktemp("watermark-media")


@pytest.fixture(scope="session")
def watermarked_720p(media_dir: Path) -> Path:
    """A 2 s 720p30 clip with a watermark box and a sine track."""
    return make_clip(media_dir / "watermarked.mp4", watermark=BOX, **CLIP)


@pytest.fixture(scope="session")
def sample_720p(media_dir: Path, watermarked_720p: Path) -> Sample:
    """The watermarked clip with what it should look like: the same clip rendered without the box,
    and a plain re-encode at the worker's encoder settings."""
    clean = make_clip(media_dir / "clean.mp4", **CLIP)
    plain = media_dir / "plain.mp4"
    subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-v",
            "error",
            "-y",
            "-i",
            str(watermarked_720p),
            *OPTIONS.encoder.video_args(),
            "-c:a",
            "copy",
            str(plain),
        ],
        check=True,
    )
    return Sample(watermarked_720p, decode_luma(clean), decode_luma(watermarked_720p), decode_luma(plain))


@pytest.fixture(scope="session")
def long_720p(media_dir: Path) -> Path:
    """A clip long enough that a cancel lands while ffmpeg is still working."""
    return make_clip(media_dir / "long.mp4", width=WIDTH, height=HEIGHT, fps=30, duration=6.0, watermark=BOX)


@pytest.fixture(scope="session")
def odd_mkv(media_dir: Path) -> Path:
    """Matroska with an odd frame size (FFV1, 321x241) and Vorbis audio, which MP4 cannot copy."""
    even = make_clip(media_dir / "even.mp4", width=322, height=242, fps=25, duration=1.0, watermark=(20, 20, 60, 30))
    odd = media_dir / "odd.mkv"
    # testsrc2 only renders even sizes: crop one column and row off.
    subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-v",
            "error",
            "-y",
            "-i",
            str(even),
            "-vf",
            "crop=321:241:0:0:exact=1",
            "-c:v",
            "ffv1",
            "-c:a",
            "libvorbis",
            str(odd),
        ],
        check=True,
    )
    return odd


@pytest.fixture(scope="session")
def rotated_mp4(media_dir: Path) -> Path:
    """A 320x180 clip whose stream says "rotate by 90 degrees": it plays, and is decoded, as 180x320."""
    flat = make_clip(media_dir / "flat.mp4", width=320, height=180, fps=25, duration=1.0, watermark=(20, 20, 60, 30))
    rotated = media_dir / "rotated.mp4"
    subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-v",
            "error",
            "-y",
            "-i",
            str(flat),
            "-c",
            "copy",
            "-metadata:s:v:0",
            "rotate=90",
            str(rotated),
        ],
        check=True,
    )
    return rotated


@dataclass
class JobRun:
    """A job directory as the worker runtime prepares it, and what the processor reported."""

    workdir: Path
    input: Path
    cancel_event: threading.Event = field(default_factory=threading.Event)
    reports: list[tuple[float, str]] = field(default_factory=list)
    on_report: Callable[[float, str], None] | None = None

    def context(self, config: dict[str, Any]) -> JobContext:
        def report(fraction: float, detail: str = "") -> None:
            self.reports.append((fraction, detail))
            if self.on_report is not None:
                self.on_report(fraction, detail)

        return JobContext(
            task_id="task-1",
            attempt=1,
            workdir=self.workdir,
            inputs=[self.input],
            input_names=[f"upload{self.input.suffix}"],
            config=config,
            report=report,
            cancel_event=self.cancel_event,
        )

    def leftovers(self) -> list[str]:
        """Everything in the job directory except the input."""
        return sorted(str(p.relative_to(self.workdir)) for p in self.workdir.rglob("*") if p != self.input)


@pytest.fixture
def job(tmp_path: Path) -> Callable[[Path], JobRun]:
    """Copy a clip into a fresh job directory as its only input."""

    def make(source: Path) -> JobRun:
        workdir = tmp_path / "job"
        workdir.mkdir()
        target = workdir / f"input-000{source.suffix}"
        shutil.copyfile(source, target)
        return JobRun(workdir, target)

    return make


def run_in_thread(
    processor: Callable[[JobContext], ProcessorResult], ctx: JobContext
) -> tuple[threading.Thread, dict[str, Any]]:
    """Run the processor as the runtime does (in a thread); the dict gets `result` or `error` and `ended`."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["result"] = processor(ctx)
        except BaseException as exc:  # handed to the test
            outcome["error"] = exc
        finally:
            outcome["ended"] = time.monotonic()

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, outcome
