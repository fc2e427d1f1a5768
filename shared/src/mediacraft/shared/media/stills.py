"""Still images of a probed video: its poster frame and a storyboard of thumbnails for scrubbing.

One poster-frame function for every caller (a reprocess's poster, a task list's thumbnail): it
opens the file with the probe's demuxer and whitelists (`ProbeResult.input_args`), seeks to a
representative instant and writes one JPEG no wider than `max_width`. Both functions are blocking
(ffmpeg under `run_ffmpeg`'s watch): call them from a worker thread or `asyncio.to_thread`.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mediacraft.shared.media.errors import InvalidMedia
from mediacraft.shared.media.ffmpeg import FfmpegProgress, run_ffmpeg
from mediacraft.shared.media.limits import MediaLimits
from mediacraft.shared.media.probe import ProbeResult

MAX_STILL_BYTES = 20 * 1024 * 1024


def poster_time(duration: float | None) -> float:
    """A representative instant: a tenth of the way in (past fades from black), at most 5 s in."""
    if not duration or duration <= 0:
        return 0.0
    return round(min(duration * 0.1, 5.0), 3)


def _seek_args(probe: ProbeResult, seconds: float, limits: MediaLimits | None) -> list[str]:
    """The probe's input arguments with a fast seek to `seconds` placed before its `-i`."""
    args = probe.input_args(limits=limits)
    if seconds <= 0:
        return args
    return [*args[:-2], "-ss", f"{seconds:.3f}", *args[-2:]]


def _scale(max_width: int) -> str:
    """Fit in `max_width` (never upscale), even sides, square pixels."""
    return f"scale=w='min({max_width},iw)':h=-2:flags=bicubic,setsar=1"


def poster_frame(
    probe: ProbeResult,
    out: Path,
    *,
    seconds: float | None = None,
    max_width: int = 1280,
    quality: int = 3,
    limits: MediaLimits | None = None,
    cancel_event: threading.Event | None = None,
    timeout: float = 60.0,
) -> float:
    """Write the frame at `seconds` (default `poster_time`) of the probed video to `out` as JPEG;
    the instant taken. A seek past the last frame falls back to the first frame."""
    if probe.main_video is None:
        raise InvalidMedia("the file has no video stream to take a picture of")
    at = poster_time(probe.duration) if seconds is None else max(0.0, seconds)
    for attempt in (at, 0.0):
        args = [
            *_seek_args(probe, attempt, limits),
            "-map",
            "0:v:0",
            "-frames:v",
            "1",
            "-vf",
            _scale(max_width),
            "-q:v",
            str(quality),
            "-f",
            "mjpeg",
            str(out),
        ]
        run_ffmpeg(args, outputs=[out], cancel_event=cancel_event, timeout=timeout, max_output_bytes=MAX_STILL_BYTES)
        if out.exists() and out.stat().st_size > 0:
            return attempt
        if attempt == 0.0:
            break
    raise InvalidMedia("no frame of the video could be decoded")


@dataclass(frozen=True)
class StoryboardLayout:
    """Where each thumbnail sits: `count` tiles of `tile_width` x `tile_height` in `columns` columns,
    tile n showing the video at n * `interval` seconds."""

    count: int
    columns: int
    rows: int
    tile_width: int
    tile_height: int
    interval: float

    def describe(self) -> dict[str, float | int]:
        return {
            "count": self.count,
            "columns": self.columns,
            "rows": self.rows,
            "tile_width": self.tile_width,
            "tile_height": self.tile_height,
            "interval": self.interval,
        }


def storyboard_layout(
    probe: ProbeResult, *, count: int = 20, columns: int = 5, tile_width: int = 160
) -> StoryboardLayout:
    """The grid for a video: one thumbnail every `duration / count` seconds, at most `count`."""
    video = probe.main_video
    if video is None or not video.width or not video.height:
        raise InvalidMedia("the file has no video stream to take pictures of")
    duration = probe.duration or 0.0
    count = max(1, min(count, math.ceil(duration) if duration > 0 else 1))
    width = min(tile_width, video.width) // 2 * 2 or 2
    height = max(2, round(width * video.height / video.width / 2) * 2)
    columns = min(columns, count)
    rows = math.ceil(count / columns)
    interval = round(duration / count, 3) if duration > 0 else 0.0
    return StoryboardLayout(count, columns, rows, width, height, interval)


def storyboard(
    probe: ProbeResult,
    out: Path,
    *,
    layout: StoryboardLayout | None = None,
    limits: MediaLimits | None = None,
    cancel_event: threading.Event | None = None,
    timeout: float = 300.0,
    on_progress: Callable[[FfmpegProgress], None] | None = None,
) -> StoryboardLayout:
    """Write a JPEG sprite of evenly spaced thumbnails of the probed video to `out`; its layout."""
    layout = layout or storyboard_layout(probe)
    rate = f"{layout.count}/{max(probe.duration or 1.0, 0.001):.3f}"
    graph = (
        f"fps={rate},scale={layout.tile_width}:{layout.tile_height}:flags=bicubic,setsar=1,"
        f"tile={layout.columns}x{layout.rows}"
    )
    args = [
        *probe.input_args(limits=limits),
        "-map",
        "0:v:0",
        "-vf",
        graph,
        "-frames:v",
        "1",
        "-q:v",
        "4",
        "-f",
        "mjpeg",
        str(out),
    ]
    run_ffmpeg(
        args,
        outputs=[out],
        total_duration=probe.duration,
        on_progress=on_progress,
        cancel_event=cancel_event,
        timeout=timeout,
        max_output_bytes=MAX_STILL_BYTES,
    )
    if not out.exists() or out.stat().st_size == 0:
        raise InvalidMedia("no frame of the video could be decoded")
    return layout
