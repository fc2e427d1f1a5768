"""The merge processor: inputs in the job directory in, joined in the config's order, one MP4 out.

The config is the shared contract `mediacraft.shared.merge` (`{"order": [...]}`, a permutation of
the inputs' positions, the upload order when absent), parsed with the model the gateway ran.

`process(ctx)` follows the worker contract (synchronous, run in a thread by the runtime) with the
default `MergeOptions`; a service that configures its limits builds `MergeProcessor(options)`.
Stages reported through `ctx.report` (fraction of the processing stage): probing 0-5 % (headers,
then a scan of each video for changes mid-stream), merging 5-95 %, checking the result 95-100 %.

Everything it writes lives in one scratch folder inside the job directory, removed on any
failure, so a failed or cancelled job leaves only its inputs behind.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from mediacraft.shared.errors import InvalidInput
from mediacraft.shared.media import MediaLimits, MediaTooLong, ProbeResult, probe_media
from mediacraft.shared.media.scan import VideoScan, scan_video
from mediacraft.shared.merge import parse_merge_config
from mediacraft.shared.tasks import TaskType
from mediacraft.shared.worker.contract import JobContext, ProcessorResult
from mediacraft.shared.worker.progress import Stage
from mediacraft.worker_merge.merge import EncoderSettings, RunLimits, run_merge
from mediacraft.worker_merge.plan import plan_merge
from mediacraft.worker_merge.reprocess import ReprocessProcessor

_PROBE_SHARE, _MERGE_SHARE = 0.05, 0.90
GIB = 1024**3


class MergeOptions(BaseModel):
    """What an operator may tune for merges."""

    model_config = ConfigDict(frozen=True)

    min_inputs: int = Field(2, ge=2)
    max_inputs: int = Field(20, ge=2)
    limits: MediaLimits = MediaLimits()
    max_total_duration: float = Field(3600.0, gt=0, description="seconds of merged output")
    max_output_bytes: int = Field(8 * GIB, gt=0)
    max_frame_rate: float = Field(60.0, gt=0, description="cap on the normalise frame rate")
    timeout_seconds: float = Field(3 * 3600.0, gt=0, description="used when the job sets no deadline")
    grace_seconds: float = Field(1.0, ge=0, description="between terminate and kill on cancel")
    ffmpeg_memory: int = Field(2 * GIB, gt=0, description="heap ffmpeg may allocate (RLIMIT_DATA), bytes")
    preset: str = "veryfast"
    crf: int = Field(20, ge=0, le=51)


class TooFewInputs(InvalidInput):
    code = "too_few_inputs"


class TooManyInputs(InvalidInput):
    code = "too_many_inputs"


def in_order(ctx: JobContext, order: list[int]) -> JobContext:
    """The job with its inputs (and their names) rearranged into `order`."""
    names = [ctx.input_names[i] for i in order] if len(ctx.input_names) == len(ctx.inputs) else ctx.input_names
    return replace(ctx, inputs=[ctx.inputs[i] for i in order], input_names=names)


class MergeProcessor:
    """Validate, probe, plan and merge; see the module docstring."""

    def __init__(self, options: MergeOptions | None = None) -> None:
        self.options = options or MergeOptions()

    def __call__(self, ctx: JobContext) -> ProcessorResult:
        """Merge `ctx.inputs` in the config's order into one MP4 inside `ctx.workdir`."""
        self._check_count(len(ctx.inputs))
        ctx = in_order(ctx, parse_merge_config(ctx.config).order_for(len(ctx.inputs)))
        scratch = Path(tempfile.mkdtemp(prefix="merge-", dir=ctx.workdir))
        try:
            return self._merge(ctx, scratch)
        except BaseException:
            shutil.rmtree(scratch, ignore_errors=True)
            raise

    def _merge(self, ctx: JobContext, scratch: Path) -> ProcessorResult:
        opts = self.options
        report = _MonotonicReport(ctx)
        probes = self._probe_all(ctx, report)
        scans = self._scan_all(ctx, probes, report)
        plan = plan_merge(probes, max_frame_rate=opts.max_frame_rate, scans=scans)
        if plan.total_duration > opts.max_total_duration:
            raise MediaTooLong(
                f"the merged video would last {plan.total_duration / 60:.1f} min;"
                f" the limit is {opts.max_total_duration / 60:.1f} min"
            )
        ctx.check_cancelled()
        output = scratch / "merged.mp4"
        run_merge(
            plan,
            output,
            scratch=scratch,
            root=ctx.workdir,
            limits=RunLimits(
                media=opts.limits,
                timeout=ctx.deadline_seconds or opts.timeout_seconds,
                max_output_bytes=opts.max_output_bytes,
                grace=opts.grace_seconds,
                memory=opts.ffmpeg_memory,
            ),
            encoder=EncoderSettings(preset=opts.preset, crf=opts.crf),
            cancel_event=ctx.cancel_event,
            on_progress=lambda f: report(_PROBE_SHARE + _MERGE_SHARE * f, plan.method),
            names=[_name(ctx, number) for number in range(len(ctx.inputs))],
        )
        # ffmpeg may have finished in the instant the cancel arrived; a cancel still wins.
        ctx.check_cancelled()
        for leftover in scratch.iterdir():
            if leftover != output:
                leftover.unlink()
        result = probe_media(output, self._output_limits(), expect="video")
        report(1.0, "done")
        info: dict[str, object] = {"method": plan.method, "inputs": len(probes)}
        if plan.target is not None:
            info["target"] = plan.target.describe()
            info["mismatches"] = list(plan.mismatches[:20])
        return ProcessorResult(path=output, filename="merged.mp4", media=result.media, info=info)

    def _check_count(self, count: int) -> None:
        opts = self.options
        if count < opts.min_inputs:
            raise TooFewInputs(f"a merge needs at least {opts.min_inputs} clips; got {count}")
        if count > opts.max_inputs:
            raise TooManyInputs(f"a merge takes at most {opts.max_inputs} clips; got {count}")

    def _probe_all(self, ctx: JobContext, report: _MonotonicReport) -> list[ProbeResult]:
        probes = []
        for number, path in enumerate(ctx.inputs):
            ctx.check_cancelled()
            try:
                probes.append(probe_media(path, self.options.limits, expect="video"))
            except InvalidInput as exc:
                raise type(exc)(f"{_name(ctx, number)}: {exc.message}", code=exc.code) from exc
            report(_PROBE_SHARE / 2 * (number + 1) / len(ctx.inputs), "probing")
        return probes

    def _scan_all(self, ctx: JobContext, probes: list[ProbeResult], report: _MonotonicReport) -> list[VideoScan]:
        """Read each input's video through for changes its headers hide (see `shared.media.scan`)."""
        scans = []
        for number, probe in enumerate(probes):
            ctx.check_cancelled()
            try:
                scans.append(
                    scan_video(
                        probe,
                        self.options.limits,
                        cancel_event=ctx.cancel_event,
                        timeout=ctx.deadline_seconds or self.options.timeout_seconds,
                    )
                )
            except InvalidInput as exc:
                raise type(exc)(f"{_name(ctx, number)}: {exc.message}", code=exc.code) from exc
            report(_PROBE_SHARE / 2 * (1 + (number + 1) / len(probes)), "probing")
        return scans

    def _output_limits(self) -> MediaLimits:
        # The output is the sum of the inputs: check it against the merge limits, not one clip's.
        return self.options.limits.model_copy(
            update={
                "max_duration": self.options.max_total_duration + 1.0,
                "max_file_size": self.options.max_output_bytes,
            }
        )


class _MonotonicReport:
    """Pass progress to the runtime, never backwards (stage boundaries meet at float edges)."""

    def __init__(self, ctx: JobContext) -> None:
        self._ctx = ctx
        self._best = 0.0

    def __call__(self, fraction: float, detail: str) -> None:
        self._best = max(self._best, min(1.0, fraction))
        self._ctx.report(self._best, detail)


def _name(ctx: JobContext, number: int) -> str:
    """A clip as its owner knows it: the upload name (never a path on this machine)."""
    return ctx.input_names[number][:100] if number < len(ctx.input_names) else f"clip {number + 1}"


_default = MergeProcessor()
_reprocess = ReprocessProcessor()


def process(ctx: JobContext) -> ProcessorResult:
    """Merge (or, for a reprocess job, reprocess) with the default options; the worker contract's
    entry point for the merge pool."""
    if ctx.task_type == TaskType.VIDEO_REPROCESS.value:
        return _reprocess(ctx)
    return _default(ctx)


def _stages(task_type: str | None) -> Sequence[Stage]:
    """A reprocess declares its own stages; a merge keeps the one `process` stage."""
    return ReprocessProcessor.stages if task_type == TaskType.VIDEO_REPROCESS.value else ()


process.stages = _stages  # type: ignore[attr-defined]
