"""The reprocess processor: one video of the library in, its web files out.

Stages (declared, so that each shows as a subtask): `probe` (read and check the video, note what
it holds), `rendition` (H.264/AAC MP4 for the web, at most 1080p on its short side, `+faststart`),
`poster` (one representative frame, JPEG) and `storyboard` (a sprite of evenly spaced thumbnails,
JPEG, its grid in the result's info). The rendition is the job's main result; the poster and
storyboard are its other outputs.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from mediacraft.shared.errors import InvalidInput
from mediacraft.shared.media import MediaLimits, ProbeResult, probe_media, run_ffmpeg
from mediacraft.shared.media.stills import poster_frame, storyboard, storyboard_layout
from mediacraft.shared.worker.contract import ExtraOutput, JobContext, ProcessorResult
from mediacraft.shared.worker.progress import Stage

GIB = 1024**3
STAGES = (Stage("probe", 1), Stage("rendition", 6), Stage("poster", 1), Stage("storyboard", 2))


class ReprocessOptions(BaseModel):
    """What an operator may tune for reprocessing."""

    model_config = ConfigDict(frozen=True)

    limits: MediaLimits = MediaLimits()
    max_short_side: int = Field(1080, ge=144, description="the rendition's short side, at most")
    preset: str = "veryfast"
    crf: int = Field(23, ge=0, le=51)
    audio_bitrate: str = "128k"
    poster_width: int = Field(1280, ge=64)
    storyboard_tiles: int = Field(20, ge=1, le=100)
    storyboard_columns: int = Field(5, ge=1, le=20)
    tile_width: int = Field(160, ge=32, le=640)
    timeout_seconds: float = Field(3 * 3600.0, gt=0)
    max_output_bytes: int = Field(8 * GIB, gt=0)


def rendition_scale(max_short_side: int) -> str:
    """Fit the short side in `max_short_side` (never upscale), even sides, square pixels."""
    m = max_short_side
    return (
        f"scale=w='if(gte(iw,ih),-2,min({m},iw))':h='if(gte(iw,ih),min({m},ih),-2)':flags=bicubic,"
        "setsar=1,format=yuv420p"
    )


def analysis(probe: ProbeResult) -> dict[str, Any]:
    """What the probe found, for the result's info."""
    video, audio = probe.main_video, probe.main_audio
    found: dict[str, Any] = {
        "container": probe.format_name,
        "duration": probe.duration,
        "size": probe.size,
        "streams": probe.stream_count,
    }
    if video is not None:
        found["video"] = {"codec": video.codec, "width": video.width, "height": video.height}
    if audio is not None:
        found["audio"] = {"codec": audio.codec, "channels": audio.channels, "sample_rate": audio.sample_rate}
    if probe.duration and probe.size:
        found["bitrate"] = round(probe.size * 8 / probe.duration)
    return found


class ReprocessProcessor:
    """Probe, rendition, poster, storyboard; see the module docstring."""

    stages = STAGES

    def __init__(self, options: ReprocessOptions | None = None) -> None:
        self.options = options or ReprocessOptions()

    def __call__(self, ctx: JobContext) -> ProcessorResult:
        if len(ctx.inputs) != 1:
            raise InvalidInput(f"a reprocess takes one video; got {len(ctx.inputs)}", code="invalid_input")
        scratch = Path(tempfile.mkdtemp(prefix="reprocess-", dir=ctx.workdir))
        try:
            return self._run(ctx, scratch)
        except BaseException:
            shutil.rmtree(scratch, ignore_errors=True)
            raise

    def _run(self, ctx: JobContext, scratch: Path) -> ProcessorResult:
        opts = self.options
        timeout = ctx.deadline_seconds or opts.timeout_seconds
        ctx.stage("probe")
        probe = probe_media(ctx.inputs[0], opts.limits, expect="video")
        if probe.main_video is None:
            raise InvalidInput("the file has no video stream", code="invalid_media")
        found = analysis(probe)
        ctx.report(1.0, f"{probe.main_video.width}x{probe.main_video.height}, {probe.duration or 0:.1f} s")

        ctx.stage("rendition")
        rendition = scratch / "rendition.mp4"
        args = [*probe.input_args(limits=opts.limits), "-map", "0:v:0", "-map", "0:a:0?", "-sn", "-dn"]
        args += ["-vf", rendition_scale(opts.max_short_side), "-c:v", "libx264", "-preset", opts.preset]
        args += ["-crf", str(opts.crf), "-profile:v", "high", "-c:a", "aac", "-b:a", opts.audio_bitrate, "-ac", "2"]
        args += ["-movflags", "+faststart", "-f", "mp4", str(rendition)]
        run_ffmpeg(
            args,
            outputs=[rendition],
            total_duration=probe.duration,
            on_progress=lambda p: ctx.report(p.fraction or 0.0, "encoding"),
            cancel_event=ctx.cancel_event,
            timeout=timeout,
            max_output_bytes=opts.max_output_bytes,
        )
        ctx.check_cancelled()
        made = probe_media(rendition, opts.limits, expect="video")
        ctx.report(1.0, f"{made.media.width}x{made.media.height} H.264")

        ctx.stage("poster")
        poster = scratch / "poster.jpg"
        at = poster_frame(probe, poster, max_width=opts.poster_width, limits=opts.limits, cancel_event=ctx.cancel_event)
        ctx.report(1.0, f"frame at {at:.1f} s")

        ctx.stage("storyboard")
        sprite = scratch / "storyboard.jpg"
        layout = storyboard(
            probe,
            sprite,
            layout=storyboard_layout(
                probe, count=opts.storyboard_tiles, columns=opts.storyboard_columns, tile_width=opts.tile_width
            ),
            limits=opts.limits,
            cancel_event=ctx.cancel_event,
            timeout=timeout,
            on_progress=lambda p: ctx.report(p.fraction or 0.0, "thumbnails"),
        )
        ctx.report(1.0, f"{layout.count} thumbnails")
        ctx.check_cancelled()
        return ProcessorResult(
            path=rendition,
            filename="rendition.mp4",
            media=made.media,
            info={"analysis": found, "source": ctx.config.get("video_id")},
            extras=[
                ExtraOutput("poster", poster, "image/jpeg", "poster.jpg", {"seconds": at}),
                ExtraOutput("storyboard", sprite, "image/jpeg", "storyboard.jpg", layout.describe()),
            ],
        )
