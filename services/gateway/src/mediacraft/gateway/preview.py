"""One frame of an uploaded video as JPEG, for picking watermark regions in source pixels.

ffmpeg opens the local copy with the shared media module's rules (demuxer forced from the probed
container, protocol and format whitelists, no stdin) and seeks before decoding, so a frame deep in
a long file costs one keyframe interval of decoding, not the whole file.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from mediacraft.gateway.envelope import ApiError
from mediacraft.shared.media import PROTOCOL_WHITELIST, SUPPORTED_FORMATS, file_url, run_ffmpeg
from mediacraft.shared.tasks import MediaInfo

_DEMUXER_OF = {fmt.name: fmt.demuxer for fmt in SUPPORTED_FORMATS}
MAX_PREVIEW_BYTES = 20 * 1024 * 1024


@dataclass(frozen=True)
class FrameRequest:
    """Where to take the frame: seconds, or a frame number converted with the frame rate."""

    seconds: float | None = None
    frame: int | None = None


def frame_time(req: FrameRequest, media: MediaInfo) -> float:
    """The time of the wanted frame, clamped inside the video."""
    if req.frame is not None:
        if not media.frame_rate:
            raise ApiError("invalid_input", "This video has no frame rate; ask for a time with ?t=")
        if media.frame_count and req.frame >= media.frame_count:
            raise ApiError("invalid_input", f"The video has {media.frame_count} frames (0 to {media.frame_count - 1})")
        t = req.frame / media.frame_rate
    else:
        t = req.seconds or 0.0
    if t < 0:
        raise ApiError("invalid_input", "The time must not be negative")
    duration = media.duration or 0.0
    if duration and t >= duration:
        # the last frame starts before the end; stay a little inside so that one is decoded
        t = max(0.0, duration - 2.0 / (media.frame_rate or 25.0))
    return round(t, 3)


def preview_args(source: Path, media: MediaInfo, seconds: float, out: Path) -> list[str]:
    """ffmpeg arguments writing the frame at `seconds` of `source` to `out` as JPEG."""
    demuxer = _DEMUXER_OF.get(media.format_name or "")
    if demuxer is None:
        raise ApiError("unsupported_format", "This file has no frames to preview")
    return [
        "-ss",
        f"{seconds:.3f}",
        "-protocol_whitelist",
        PROTOCOL_WHITELIST,
        "-format_whitelist",
        demuxer,
        "-f",
        demuxer,
        "-i",
        file_url(source),
        "-map",
        "0:v:0",
        "-frames:v",
        "1",
        "-an",
        "-sn",
        "-dn",
        "-c:v",
        "mjpeg",
        "-q:v",
        "3",
        "-f",
        "image2",
        "-update",
        "1",
        str(out),
    ]


class FrameExtractor:
    """Runs preview ffmpegs off the event loop, a few at a time."""

    def __init__(self, *, concurrency: int = 2, timeout: float = 10.0) -> None:
        self._slots = asyncio.Semaphore(concurrency)
        self._timeout = timeout

    async def jpeg(self, source: Path, media: MediaInfo, seconds: float, out: Path) -> bytes:
        """The JPEG bytes of the frame at `seconds`."""
        args = preview_args(source, media, seconds, out)
        async with self._slots:
            try:
                await asyncio.to_thread(
                    run_ffmpeg, args, outputs=[out], timeout=self._timeout, max_output_bytes=MAX_PREVIEW_BYTES
                )
                data = await asyncio.to_thread(out.read_bytes)
            finally:
                await asyncio.to_thread(out.unlink, missing_ok=True)
        if not data:
            raise ApiError("invalid_media", "No frame could be decoded at that time", status=422)
        return data
