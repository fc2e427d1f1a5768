"""The fast method: one ffmpeg run with a `delogo` filter per region, chained.

`delogo` replaces each box by an interpolation of the pixels just around it, inside ffmpeg's own
filter graph, so the method costs little more than a plain transcode. It refuses a box that
touches the frame's edge, which `regions.keep_inside` already prevents. Timestamps pass through
untouched (variable frame rates stay variable) and the audio is copied.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from mediacraft.shared.media import FfmpegProgress, InvalidMedia, ProbeResult, run_ffmpeg
from mediacraft.worker_watermark.bounds import RunBounds
from mediacraft.worker_watermark.encoder import EncoderSettings, even_crop
from mediacraft.worker_watermark.regions import Region


def delogo_filter(regions: Sequence[Region]) -> str:
    """The filter chain: one `delogo` per region."""
    return ",".join(f"delogo=x={r.x}:y={r.y}:w={r.w}:h={r.h}" for r in regions)


def delogo_args(
    source: ProbeResult, regions: Sequence[Region], output: Path, *, bounds: RunBounds, encoder: EncoderSettings
) -> list[str]:
    """ffmpeg arguments (after the runner's global ones) for the whole job."""
    video = source.main_video
    if video is None or not source.media.width or not source.media.height:
        raise InvalidMedia("the file has no video stream")
    crop = even_crop(source.media.width, source.media.height)
    chain = delogo_filter(regions) + (f",{crop}" if crop else "")
    return [
        *source.input_args(limits=bounds.media),
        "-map",
        f"0:{video.index}",
        "-map",
        "0:a?",
        "-vf",
        chain,
        *encoder.video_args(),
        *encoder.audio_args(source.audio),
        *encoder.container_args(),
        str(output),
    ]


def delogo_video(
    source: ProbeResult,
    regions: Sequence[Region],
    output: Path,
    *,
    bounds: RunBounds,
    encoder: EncoderSettings = EncoderSettings(),
    cancel_event: threading.Event | None = None,
    on_frames: Callable[[int], None] = lambda done: None,
) -> int:
    """Remove `regions` from every frame of `source` into the MP4 `output`; return frames written."""

    def progress(snapshot: FfmpegProgress) -> None:
        if snapshot.frame:
            on_frames(snapshot.frame)

    result = run_ffmpeg(
        delogo_args(source, regions, output, bounds=bounds, encoder=encoder),
        outputs=[output],
        total_duration=source.duration,
        on_progress=progress,
        cancel_event=cancel_event,
        timeout=bounds.timeout,
        max_output_bytes=bounds.max_output_bytes,
        grace=bounds.grace,
        memory_limit=bounds.memory_limit,
    )
    return (result.progress.frame if result.progress else None) or 0
