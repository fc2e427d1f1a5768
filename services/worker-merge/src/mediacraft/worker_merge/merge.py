"""Carry out a MergePlan, writing a local `+faststart` MP4.

- stream copy: one ffmpeg; the concat demuxer reads a list file this module writes itself
  (absolute paths inside the job directory, quoted), opened with `-safe 0` (needed for absolute
  paths), the `file` protocol only and a format whitelist of `concat` plus the inputs' demuxer.
- normalise: one ffmpeg per input, in order, with its probed demuxer forced, scales and pads
  it to the target, resamples its audio (or makes silence) and trims both to the segment's
  length, into an intermediate MOV (x264, PCM); the graphs survive a picture that changes size
  or format mid-stream (see `segment_args`); the intermediates are checked to match, and each
  to fill its segment, then concatenated as above with the video copied and the audio encoded
  to AAC once. A clip that cannot be converted fails naming the clip and where in it. One input
  at a time keeps memory flat however many clips there are (a single filter graph opens a
  decoder per input at once: about 1 GB for twenty 1080p clips).

Progress is ffmpeg's `out_time_us` over each step's duration, weighted by the step's share of
the total; all steps share one wall-clock deadline.
"""

from __future__ import annotations

import re
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from mediacraft.shared.media import (
    FfmpegProgress,
    InvalidMedia,
    MediaLimits,
    ProbeResult,
    ProcessingTimeout,
    file_url,
    probe_media,
    run_ffmpeg,
)
from mediacraft.shared.media.ffmpeg import FFMPEG
from mediacraft.shared.media.scan import clock
from mediacraft.worker_merge.plan import MergePlan, NormaliseTarget, Segment, compare_inputs

# Characters that would end or corrupt a line of the concat list whatever the quoting.
_FORBIDDEN_IN_LIST = ("\n", "\r", "\x00")
# Share of a normalising merge's progress spent converting inputs; the final concat is quick.
_NORMALISE_SHARE = 0.95


@dataclass(frozen=True)
class EncoderSettings:
    """How the normalise path encodes: x264 and AAC at settings a browser plays."""

    preset: str = "veryfast"
    crf: int = 20
    gop_seconds: float = 2.0
    audio_bitrate: str = "128k"


@dataclass(frozen=True)
class RunLimits:
    """Bounds on one merge run, passed to the safe ffmpeg runner."""

    media: MediaLimits
    timeout: float | None = None
    max_output_bytes: int | None = None
    grace: float = 1.0
    memory: int | None = None  # heap cap for ffmpeg (RLIMIT_DATA), bytes


def quote_concat_path(path: str) -> str:
    """Quote a path for a concat list: inside single quotes, a quote is written `'\\''`."""
    if any(ch in path for ch in _FORBIDDEN_IN_LIST):
        raise ValueError("a path in a concat list cannot hold a line break or NUL")
    return "'" + path.replace("'", "'\\''") + "'"


def format_concat_list(paths: Sequence[Path]) -> str:
    """The text of an ffconcat list naming `paths` (absolute) in order."""
    lines = ["ffconcat version 1.0"]
    for path in paths:
        if not Path(path).is_absolute():
            raise ValueError("concat list paths must be absolute")
        lines.append(f"file {quote_concat_path(str(path))}")
    return "\n".join(lines) + "\n"


def write_concat_list(paths: Sequence[Path], list_path: Path, *, root: Path) -> Path:
    """Write the list file; every path must resolve inside `root`, since `-safe 0` trusts them."""
    root = root.resolve()
    resolved = [Path(p).resolve() for p in paths]
    for path in resolved:
        if not path.is_relative_to(root):
            raise ValueError(f"{path.name} is outside the job directory")
    list_path.write_text(format_concat_list(resolved), encoding="utf-8")
    return list_path


def concat_copy_args(
    list_path: Path,
    output: Path,
    *,
    demuxers: Sequence[str],
    video_index: int,
    audio_index: int | None,
    audio_codec: Sequence[str] = ("-c:a", "copy"),
) -> list[str]:
    """ffmpeg arguments that concat the listed files, copying video (audio as `audio_codec` says)."""
    maps = ["-map", f"0:{video_index}"]
    if audio_index is not None:
        maps += ["-map", f"0:{audio_index}", *audio_codec]
    return [
        "-protocol_whitelist",
        "file",
        "-format_whitelist",
        ",".join(["concat", *sorted(set(demuxers))]),
        # auto_convert would rewrite H.264 into Annex B with in-band headers; the plan has already
        # proven that every input carries the same extradata, so the packets can pass untouched.
        "-f",
        "concat",
        "-safe",
        "0",
        "-auto_convert",
        "0",
        "-i",
        file_url(list_path),
        *maps,
        "-c:v",
        "copy",
        "-map_metadata",
        "-1",
        "-map_chapters",
        "-1",
        "-movflags",
        "+faststart",
        "-f",
        "mp4",
        str(output),
    ]


def stream_copy_args(plan: MergePlan, list_path: Path, output: Path) -> list[str]:
    """ffmpeg arguments for a lossless concat of matching inputs."""
    first = plan.segments[0]
    return concat_copy_args(
        list_path,
        output,
        demuxers=[s.probe.container.demuxer for s in plan.segments],
        video_index=first.video.index,
        audio_index=first.audio.index if first.audio is not None else None,
    )


def segment_args(
    segment: Segment,
    target: NormaliseTarget,
    output: Path,
    *,
    with_audio: bool,
    limits: MediaLimits,
    encoder: EncoderSettings,
) -> list[str]:
    """ffmpeg arguments that convert one input into an intermediate of the target format.

    Every intermediate gets the same encoder settings, so they match and concat by stream copy;
    audio stays PCM here and is encoded once, in the final concat, so AAC priming appears once.

    An input may change picture size or pixel format mid-stream. ffmpeg then rebuilds the filter
    graph that the stream feeds (`-reinit_filter 1`, its default, set here on purpose), and
    every filter in it starts afresh. So the graphs hold no state that a rebuild would reset:
    timestamps are shifted by a constant taken from the probe (not `PTS-STARTPTS`), the end is
    an absolute `trim=end` (not a duration counted from the first frame seen), video and audio
    are separate graphs (a rebuild of one leaves the other alone), and the frame rate is made
    constant by the output (`-fps_mode cfr -r`), whose count of frames outlives any rebuild. The
    output's `-t` cuts both streams at the segment's length.
    """
    gop = max(1, round(float(target.frame_rate) * encoder.gop_seconds))
    args = [
        # progress often enough that a failure can be placed in the clip to a fraction of a second
        "-stats_period",
        "0.1",
        "-reinit_filter",
        "1",
        *segment.probe.input_args(limits=limits),
        *(
            arg
            for graph in segment_graphs(segment, target, with_audio=with_audio)
            for arg in ("-filter_complex", graph)
        ),
        "-map",
        "[v]",
        "-fps_mode",
        "cfr",
        "-r",
        _rate(target.frame_rate),
        "-c:v",
        "libx264",
        "-preset",
        encoder.preset,
        "-crf",
        str(encoder.crf),
        "-pix_fmt",
        target.pix_fmt,
        "-g",
        str(gop),
    ]
    if with_audio:
        args += ["-map", "[a]", "-c:a", "pcm_s16le"]
    return [
        *args,
        "-t",
        f"{segment.duration:.6f}",
        "-map_metadata",
        "-1",
        "-map_chapters",
        "-1",
        "-f",
        "mov",
        str(output),
    ]


def segment_graphs(segment: Segment, target: NormaliseTarget, *, with_audio: bool) -> list[str]:
    """The filter graphs that bring one input to the target: `[v]`, and `[a]` when `with_audio`."""
    graphs = [_video_chain(segment, target)]
    if with_audio:
        graphs.append(_audio_chain(segment, target))
    return graphs


def run_merge(
    plan: MergePlan,
    output: Path,
    *,
    scratch: Path,
    root: Path,
    limits: RunLimits,
    encoder: EncoderSettings = EncoderSettings(),
    cancel_event: threading.Event | None = None,
    on_progress: Callable[[float], None] | None = None,
    names: Sequence[str] | None = None,
) -> None:
    """Run the plan into `output`; `on_progress` gets the fraction done; outputs go on failure.

    `names` are the clips' names as their owner knows them (upload names), for error messages:
    a clip that cannot be converted fails with its name and the time in it where it failed.
    """
    runner = _Runner(limits, cancel_event, on_progress or (lambda fraction: None))
    if plan.method == "stream_copy":
        list_path = write_concat_list([s.probe.path for s in plan.segments], scratch / "inputs.ffconcat", root=root)
        runner.run(stream_copy_args(plan, list_path, output), output, plan.total_duration, share=(0.0, 1.0))
        return
    assert plan.target is not None, "a normalise plan has a target"
    parts, part_probes, done = [], [], 0.0
    for number, segment in enumerate(plan.segments):
        name = names[number] if names is not None and number < len(names) else f"clip {number + 1}"
        part = scratch / f"part-{number:03d}.mov"
        args = segment_args(
            segment,
            plan.target,
            part,
            with_audio=plan.with_audio,
            limits=limits.media,
            encoder=encoder,
        )
        start = _NORMALISE_SHARE * done / plan.total_duration
        done += segment.duration
        share = (start, _NORMALISE_SHARE * done / plan.total_duration)
        try:
            runner.run(args, part, segment.duration, share=share, xerror=True)
        except InvalidMedia as exc:
            at = decoded_until(segment.probe.path)
            at = runner.last_out_time if at is None else at
            error = InvalidMedia(f"{name}: the clip could not be converted at {clock(at)}")
            error.detail = exc.detail or exc.message
            raise error from exc
        parts.append(part)
        part_probes.append(_check_part(part, segment, plan.target, name, limits.media))
    _check_parts_match(part_probes)
    list_path = write_concat_list(parts, scratch / "parts.ffconcat", root=root)
    audio = ["-c:a", "aac", "-b:a", encoder.audio_bitrate] if plan.with_audio else []
    args = concat_copy_args(
        list_path,
        output,
        demuxers=["mov"],
        video_index=0,
        audio_index=1 if plan.with_audio else None,
        audio_codec=audio,
    )
    runner.run(args, output, plan.total_duration, share=(_NORMALISE_SHARE, 1.0))


class _Runner:
    """Runs the ffmpeg steps of one merge against a single deadline, mapping progress to shares."""

    def __init__(
        self, limits: RunLimits, cancel_event: threading.Event | None, on_progress: Callable[[float], None]
    ) -> None:
        self.limits = limits
        self.cancel_event = cancel_event
        self.on_progress = on_progress
        self.deadline = None if limits.timeout is None else time.monotonic() + limits.timeout
        self.last_out_time = 0.0  # where the running step had got to in its output, seconds

    def run(
        self,
        args: list[str],
        output: Path,
        duration: float,
        *,
        share: tuple[float, float],
        xerror: bool = False,
    ) -> None:
        """Run one step; its progress fills `share` of the whole merge."""
        low, high = share
        self.last_out_time = 0.0

        def progress(snapshot: FfmpegProgress) -> None:
            self.last_out_time = snapshot.out_time
            self.on_progress(low + (high - low) * (snapshot.fraction or 0.0))

        run_ffmpeg(
            args,
            outputs=[output],
            total_duration=duration,
            on_progress=progress,
            cancel_event=self.cancel_event,
            timeout=self._remaining(),
            max_output_bytes=self.limits.max_output_bytes,
            grace=self.limits.grace,
            memory_limit=self.limits.memory,
            xerror=xerror,
        )

    def _remaining(self) -> float | None:
        if self.deadline is None:
            return None
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise ProcessingTimeout(f"the merge ran longer than the limit of {self.limits.timeout:g} s")
        return remaining


_TIME_BASE = re.compile(r"^#tb (\d+): (\d+)/(\d+)$")
DECODE_CHECK_SECONDS = 120.0


def decoded_until(path: Path, *, timeout: float = DECODE_CHECK_SECONDS) -> float | None:
    """How far into `path` (seconds from its first frame) its streams decode before the first error.

    A conversion's own progress cannot say: ffmpeg reports it twice a second at most, and its
    output lags the input by the encoder's buffer, so a clip damaged two seconds in fails while the
    output is still at 0. Decoding alone, one line per frame (framecrc), names the last good frame.
    None when the clip cannot be read at all, or this check itself fails.
    """
    command = [
        FFMPEG, "-nostdin", "-hide_banner", "-loglevel", "error", "-xerror",
        "-protocol_whitelist", "file", "-i", file_url(path), "-map", "0:v?", "-map", "0:a?", "-f", "framecrc", "-",
    ]  # fmt: skip
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    bases: dict[int, Fraction] = {}
    first: float | None = None
    last: float | None = None
    for line in done.stdout.splitlines():
        if line.startswith("#"):
            if found := _TIME_BASE.match(line):
                bases[int(found.group(1))] = Fraction(int(found.group(2)), int(found.group(3)))
            continue
        fields = [field.strip() for field in line.split(",")]
        if len(fields) < 4 or not fields[0].isdigit() or int(fields[0]) not in bases:
            continue
        try:
            base = bases[int(fields[0])]
            start, end = float(int(fields[2]) * base), float((int(fields[2]) + int(fields[3])) * base)
        except ValueError:
            continue
        first = start if first is None else min(first, start)
        last = end if last is None else max(last, end)
    if first is None or last is None:
        return None
    return max(0.0, last - first)


def _check_part(part: Path, segment: Segment, target: NormaliseTarget, name: str, limits: MediaLimits) -> ProbeResult:
    """Probe one intermediate; a picture that stops short of its segment fails with the clip's name.

    The graph clones the last frame for up to a second; a video stream that ends earlier than
    that before its clip does (its picture vanishes mid-clip) would leave a hole in the output.
    """
    relaxed = limits.model_copy(update={"max_file_size": 1 << 62})
    probe = probe_media(part, relaxed)
    video = probe.main_video
    length = (video.duration if video is not None else None) or probe.duration or 0.0
    frame = 1 / float(target.frame_rate)
    if length < segment.duration - 2 * frame - 0.05:
        stopped = max(0.0, length - 1.0)
        raise InvalidMedia(
            f"{name}: the picture stops at {clock(stopped)} but the clip lasts until {clock(segment.duration)}"
        )
    return probe


def _check_parts_match(probes: Sequence[ProbeResult]) -> None:
    """Refuse to stream-copy intermediates that differ: ffmpeg would write a broken file silently."""
    mismatches = compare_inputs(probes, include_audio=False)
    if mismatches:
        raise RuntimeError("normalised parts do not match: " + "; ".join(mismatches[:5]))


def _video_chain(segment: Segment, target: NormaliseTarget) -> str:
    w, h = target.width, target.height
    return (
        f"[0:{segment.video.index}]setpts=PTS-{_offset(segment, segment.video.start_time):.6f}/TB,"
        # Stretch to square pixels first, so that the fit below keeps the displayed aspect ratio.
        "scale=trunc(iw*sar/2)*2:ih,setsar=1,"
        f"scale={w}:{h}:force_original_aspect_ratio=decrease:force_divisible_by=2,"
        f"pad={w}:{h}:(ow-iw)/2:(oh-ih)/2:color=black,setsar=1,format={target.pix_fmt},"
        # Clone the last frame a little so a video a hair shorter than its container still fills it.
        f"tpad=stop_mode=clone:stop_duration=1,trim=end={segment.duration:.6f}"
        "[v]"
    )


def _audio_chain(segment: Segment, target: NormaliseTarget) -> str:
    fmt = f"aformat=sample_fmts=fltp:sample_rates={target.sample_rate}:channel_layouts={target.channel_layout}"
    if segment.audio is None:
        source = f"anullsrc=channel_layout={target.channel_layout}:sample_rate={target.sample_rate},{fmt}"
    else:
        offset = _offset(segment, segment.audio.start_time)
        # async: output timestamps count the samples written, so sound that overlaps itself where two
        # recordings meet (Matroska keeps such timestamps) is trimmed, and a gap filled with silence,
        # beyond 10 ms; sound and picture stay within that of each other.
        resample = f"aresample={target.sample_rate}:async=1:min_hard_comp=0.01"
        source = f"[0:{segment.audio.index}]asetpts=PTS-{offset:.6f}/TB,{resample},{fmt},apad"
    return f"{source},atrim=end={segment.duration:.6f}[a]"


def _offset(segment: Segment, stream_start: float | None) -> float:
    """Where a stream starts once ffmpeg has moved the input's start to zero: each stream of a
    segment starts at 0, as the segment's place in the output assumes."""
    file_start = segment.probe.start_time
    if stream_start is None or file_start is None:
        return 0.0
    return max(0.0, stream_start - file_start)


def _rate(rate: Fraction) -> str:
    return f"{rate.numerator}/{rate.denominator}"
