"""The watermark removal processor: one video and its regions in, one cleaned MP4 out.

`process(ctx)` follows the worker contract (synchronous, run in a thread by the runtime) with the
default `WatermarkOptions`; a service that tunes them builds `WatermarkProcessor(options)`.

The job config (the task's `config`) is the shared contract `mediacraft.shared.watermark`, parsed
with the same model the gateway ran at submit (`invalid_config`); without `inpaint_radius` the
options' default radius applies.

The input is probed with the shared safe prober (whitelists, limits) before anything is decoded;
regions are fitted to the probed frame size (`invalid_regions`). Progress is frames done
over the probed frame count. Everything the processor writes lives in one scratch folder inside
the job directory, removed on any failure or cancel, so that only the inputs remain.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from mediacraft.shared.errors import InvalidInput
from mediacraft.shared.media import MediaLimits, ProbeResult, probe_media
from mediacraft.shared.watermark import (
    AUTO,
    INPAINT,
    MAX_RADIUS,
    NO_WATERMARK_FOUND,
    WatermarkConfig,
    parse_watermark_config,
)
from mediacraft.shared.worker.contract import JobContext, ProcessorResult
from mediacraft.worker_watermark import detect
from mediacraft.worker_watermark.auto import auto_video
from mediacraft.worker_watermark.bounds import RunBounds
from mediacraft.worker_watermark.delogo import delogo_video
from mediacraft.worker_watermark.encoder import EncoderSettings
from mediacraft.worker_watermark.inpaint import DEFAULT_RADIUS, inpaint_video
from mediacraft.worker_watermark.regions import Region, frame_regions

GIB = 1024**3
RESULT_NAME = "cleaned.mp4"
_PROBE_SHARE = 0.02  # of the processing stage; encoding takes the rest
_REPORT_EVERY = 0.25  # seconds between progress reports to the runtime


class WatermarkOptions(BaseModel):
    """What an operator may tune for watermark removal."""

    model_config = ConfigDict(frozen=True)

    limits: MediaLimits = MediaLimits()
    default_radius: int = Field(DEFAULT_RADIUS, ge=1, le=MAX_RADIUS)
    grow: int = Field(1, ge=0, description="pixels added around each region for the logo's halo")
    preset: str = "veryfast"
    crf: int = Field(20, ge=0, le=51)
    max_output_bytes: int = Field(8 * GIB, gt=0)
    memory_limit: int | None = Field(2 * GIB, gt=0, description="heap cap of each ffmpeg process")
    timeout_seconds: float = Field(3 * 3600.0, gt=0, description="used when the job sets no deadline")
    grace_seconds: float = Field(1.0, ge=0, description="between terminate and kill on cancel")
    frame_buffers: int = Field(5, ge=3, description="raw frames in flight in the inpaint pipeline")
    inpaint_workers: int = Field(2, ge=1, description="threads inpainting frames in parallel")

    @property
    def encoder(self) -> EncoderSettings:
        return EncoderSettings(preset=self.preset, crf=self.crf)


@dataclass(frozen=True)
class JobConfig:
    """The job's settings as the worker runs them: the shared model plus the options' default radius."""

    settings: WatermarkConfig
    radius: int

    @property
    def method(self) -> str:
        return str(self.settings.method)

    @property
    def selected_frame(self) -> int | None:
        return self.settings.selected_frame


def parse_config(config: Any, options: WatermarkOptions) -> JobConfig:
    """Validate the job's config with the shared model; raise its InvalidConfig on anything malformed."""
    settings = parse_watermark_config(config)
    radius = settings.inpaint_radius if settings.inpaint_radius is not None else options.default_radius
    return JobConfig(settings, radius)


class WatermarkProcessor:
    """Validate, probe, clean and check; see the module docstring."""

    def __init__(self, options: WatermarkOptions | None = None) -> None:
        self.options = options or WatermarkOptions()

    def __call__(self, ctx: JobContext) -> ProcessorResult:
        """Remove the configured regions from `ctx.inputs[0]` into an MP4 inside `ctx.workdir`."""
        raw = ctx.config
        detection: dict[str, Any] | None = None
        asked = parse_config(raw, self.options)  # everything validated before any decoding
        if len(ctx.inputs) != 1:
            raise InvalidInput(f"watermark removal takes one video; got {len(ctx.inputs)}", code="wrong_input_count")
        ctx.check_cancelled()
        ctx.report(0.0, "probing")
        source = probe_media(ctx.inputs[0], self.options.limits, expect="video")
        if asked.settings.detect:  # regions left out: find them first
            ctx.report(0.0, "detecting")
            found = detect.detect_watermarks(ctx.inputs[0], cancel=ctx.cancel_event, limits=self.options.limits)
            ctx.check_cancelled()
            if found.state != "done":
                raise InvalidInput(found.message, code=NO_WATERMARK_FOUND)
            detection = found.to_dict()
            raw = {**raw, "regions": [list(r.box) for r in found.regions]}
        config = parse_config(raw, self.options)
        regions = frame_regions(config.settings, source.media.width or 0, source.media.height or 0)
        scratch = Path(tempfile.mkdtemp(prefix="watermark-", dir=ctx.workdir))
        try:
            result = self._clean(ctx, config, source, regions, scratch / RESULT_NAME)
            if detection is not None:
                result.info["detection"] = detection
            return result
        except BaseException:
            shutil.rmtree(scratch, ignore_errors=True)
            raise

    def _clean(
        self,
        ctx: JobContext,
        config: JobConfig,
        source: ProbeResult,
        regions: tuple[Region, ...],
        output: Path,
    ) -> ProcessorResult:
        opts = self.options
        bounds = RunBounds(
            media=opts.limits,
            timeout=ctx.deadline_seconds or opts.timeout_seconds,
            max_output_bytes=opts.max_output_bytes,
            memory_limit=opts.memory_limit,
            grace=opts.grace_seconds,
        )
        on_frames = FrameProgress(ctx.report, _frame_total(source), config.method)
        ctx.check_cancelled()
        chosen: list[dict[str, Any]] | None = None
        if config.method == AUTO:
            frames, chosen = auto_video(
                source,
                regions,
                output,
                bounds=bounds,
                encoder=opts.encoder,
                cancel_event=ctx.cancel_event,
                on_frames=on_frames,
            )
        elif config.method == INPAINT:
            frames = inpaint_video(
                source,
                regions,
                output,
                bounds=bounds,
                encoder=opts.encoder,
                radius=config.radius,
                grow=opts.grow,
                cancel_event=ctx.cancel_event,
                on_frames=on_frames,
                buffers=opts.frame_buffers,
                workers=opts.inpaint_workers,
            )
        else:
            frames = delogo_video(
                source,
                regions,
                output,
                bounds=bounds,
                encoder=opts.encoder,
                cancel_event=ctx.cancel_event,
                on_frames=on_frames,
            )
        # ffmpeg may have finished in the instant the cancel arrived; a cancel still wins.
        ctx.check_cancelled()
        result = probe_media(output, self._output_limits(), expect="video")
        ctx.report(1.0, "done")
        # the settings as applied: the regions as cleaned, the radius only where it was used
        applied = config.settings.model_copy(
            update={
                "regions": [r.as_list() for r in regions],
                "inpaint_radius": config.radius if config.method == INPAINT else None,
            }
        )
        info: dict[str, Any] = {**applied.normalized(), "frames": frames}
        if chosen is not None:
            info["auto"] = chosen
        return ProcessorResult(path=output, filename=RESULT_NAME, media=result.media, info=info)

    def _output_limits(self) -> MediaLimits:
        # Our own output: only its size differs from what an input may be.
        return self.options.limits.model_copy(update={"max_file_size": self.options.max_output_bytes})


class FrameProgress:
    """Turns frame counts into throttled, monotonic fractions of the processing stage."""

    def __init__(
        self,
        report: Callable[[float, str], None],
        total: int | None,
        detail: str,
        *,
        every: float = _REPORT_EVERY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._report, self._total, self._detail = report, total, detail
        self._every, self._clock = every, clock
        self._last_time = float("-inf")
        self._best = 0.0
        self._lock = threading.Lock()

    def __call__(self, frames: int) -> None:
        """Record `frames` done; report when enough time has passed since the last report."""
        if not self._total:
            return
        fraction = _PROBE_SHARE + (1 - _PROBE_SHARE) * min(1.0, frames / self._total)
        now = self._clock()
        with self._lock:
            if fraction <= self._best or now - self._last_time < self._every:
                return
            self._best, self._last_time = fraction, now
        self._report(fraction, self._detail)


def _frame_total(source: ProbeResult) -> int | None:
    media = source.media
    if media.frame_count:
        return media.frame_count
    if media.duration and media.frame_rate:
        return max(1, round(media.duration * media.frame_rate))
    return None


_default = WatermarkProcessor()


def process(ctx: JobContext) -> ProcessorResult:
    """Clean with the default options; the worker contract's entry point."""
    return _default(ctx)
