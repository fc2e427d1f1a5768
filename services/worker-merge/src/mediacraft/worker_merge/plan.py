"""Decide how to merge probed inputs: lossless stream copy, or normalise then concat. Pure.

Stream copy is chosen only when every input matches the first on everything the concat demuxer
copies blindly: container; stream counts; video codec, profile, level, coded size, pixel format,
sample aspect ratio, frame rate, time base, colour range/space/transfer/primaries, field order,
rotation and extradata; audio codec, profile, sample rate, channels, layout, sample format and
extradata; and the codecs must fit in MP4; and (from a scan of the whole stream, when given) no
input may change picture size, pixel format, aspect ratio or frame rate after its headers. A
stream-copy concat of mismatched inputs makes ffmpeg exit 0 and write a broken file, so any doubt
means normalise.

Normalise target (the documented rule):
- size: the display size (sample aspect ratio and rotation applied) of the input with the most
  display pixels, the first such input on a tie, rounded down to even numbers; every input is
  scaled to fit inside it with its aspect ratio kept and padded with black, square pixels;
  an input whose picture changes mid-stream counts with its largest picture;
- frame rate: the highest input frame rate, capped at `max_frame_rate` (default 60); an input
  whose rate changes mid-stream counts with its faster rate;
- pixel format yuv420p; audio AAC resampled to 48 kHz stereo; an input without audio gets a
  silent track of its video's length; the output has no audio only when no input has any.

The output holds the first (non cover-art) video stream and the first audio stream of each
input; subtitles and data streams are dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

from mediacraft.shared.media.probe import AudioStream, ProbeResult, VideoStream
from mediacraft.shared.media.scan import VideoScan

Method = Literal["stream_copy", "normalise"]

VIDEO_FIELDS = (
    "codec",
    "profile",
    "level",
    "width",
    "height",
    "pix_fmt",
    "sar",
    "frame_rate",
    "time_base",
    "color_range",
    "color_space",
    "color_transfer",
    "color_primaries",
    "field_order",
    "rotation",
    "extradata_hash",
)
AUDIO_FIELDS = (
    "codec",
    "profile",
    "sample_rate",
    "channels",
    "channel_layout",
    "sample_fmt",
    "extradata_hash",
)
# Codecs the MP4 muxer stores as they are; anything else must be re-encoded.
MP4_VIDEO_CODECS = frozenset({"h264", "hevc", "av1", "vp9", "mpeg4"})
MP4_AUDIO_CODECS = frozenset({"aac", "mp3", "opus", "alac", "ac3", "eac3", "flac"})

DEFAULT_FRAME_RATE = Fraction(30)
TARGET_SAMPLE_RATE = 48_000
TARGET_CHANNEL_LAYOUT = "stereo"
TARGET_PIX_FMT = "yuv420p"


@dataclass(frozen=True)
class NormaliseTarget:
    """The common format every input is converted to before concat."""

    width: int
    height: int
    frame_rate: Fraction
    pix_fmt: str = TARGET_PIX_FMT
    sample_rate: int = TARGET_SAMPLE_RATE
    channel_layout: str = TARGET_CHANNEL_LAYOUT

    def describe(self) -> dict[str, object]:
        """JSON-safe summary for the task result."""
        return {
            "width": self.width,
            "height": self.height,
            "frame_rate": str(self.frame_rate),
            "pix_fmt": self.pix_fmt,
            "sample_rate": self.sample_rate,
            "channel_layout": self.channel_layout,
        }


@dataclass(frozen=True)
class Segment:
    """One input's place in the output: its probe, streams used, and the length it occupies."""

    probe: ProbeResult
    video: VideoStream
    audio: AudioStream | None
    duration: float


@dataclass(frozen=True)
class MergePlan:
    """How to merge: the method, why not stream copy, the segments and the normalise target."""

    method: Method
    segments: tuple[Segment, ...]
    mismatches: tuple[str, ...]
    target: NormaliseTarget | None
    with_audio: bool

    @property
    def total_duration(self) -> float:
        return sum(s.duration for s in self.segments)


def plan_merge(
    inputs: Sequence[ProbeResult],
    *,
    max_frame_rate: float = 60.0,
    scans: Sequence[VideoScan] | None = None,
) -> MergePlan:
    """Choose stream copy when every input matches, else a normalise target; pure.

    `scans` (one per input, from `scan_video`) tell what the headers do not: an input whose
    picture or frame rate changes mid-stream is never stream-copied, and the target covers the
    largest picture and the fastest rate seen anywhere in it.
    """
    segments = tuple(_segment(i, p) for i, p in enumerate(inputs))
    mismatches = tuple(compare_inputs(inputs)) + tuple(
        f"input {number}: {change.describe()}"
        for number, scan in enumerate(scans or (), start=1)
        for change in scan.changes
    )
    with_audio = any(s.audio is not None for s in segments)
    if not mismatches:
        return MergePlan("stream_copy", segments, (), None, with_audio)
    target = choose_target(inputs, max_frame_rate=max_frame_rate, scans=scans)
    return MergePlan("normalise", segments, mismatches, target, with_audio)


def compare_inputs(inputs: Sequence[ProbeResult], *, include_audio: bool = True) -> list[str]:
    """Every difference that rules out a stream copy, as readable lines; empty when they all match.

    `include_audio=False` compares video only, for inputs whose audio will be re-encoded.
    """
    first = inputs[0]
    reasons = _mp4_fit(1, first, include_audio)
    for number, other in enumerate(inputs[1:], start=2):
        reasons += _differences(number, first, other, include_audio)
    return reasons


def choose_target(
    inputs: Sequence[ProbeResult],
    *,
    max_frame_rate: float = 60.0,
    scans: Sequence[VideoScan | None] | None = None,
) -> NormaliseTarget:
    """Apply the module's documented rule: largest display size, highest frame rate (capped)."""
    scans = list(scans or [None] * len(inputs))
    sizes = [_largest_size(_main_video(p), scan) for p, scan in zip(inputs, scans, strict=True)]
    width, height = max(sizes, key=lambda size: size[0] * size[1])  # max keeps the first on a tie
    rates = [r for r in (_input_rate(_main_video(p), scan) for p, scan in zip(inputs, scans, strict=True)) if r]
    rate = max(rates).limit_denominator(1001) if rates else DEFAULT_FRAME_RATE
    cap = Fraction(max_frame_rate).limit_denominator(1001)
    return NormaliseTarget(width=_even(width), height=_even(height), frame_rate=min(rate, cap))


def _segment(position: int, probe: ProbeResult) -> Segment:
    video = _main_video(probe)
    duration = video.duration or probe.duration
    if not duration:
        raise ValueError(f"input {position + 1} has no known duration")  # probe_media refuses these
    return Segment(probe=probe, video=video, audio=probe.main_audio, duration=duration)


def _differences(number: int, first: ProbeResult, other: ProbeResult, include_audio: bool) -> list[str]:
    reasons = _mp4_fit(number, other, include_audio)
    if other.container != first.container:
        reasons.append(f"input {number}: container {other.container.name} differs from {first.container.name}")
    counts = (len(_moving(first)), len(first.audio)), (len(_moving(other)), len(other.audio))
    if counts[0] != counts[1]:
        reasons.append(
            f"input {number}: {counts[1][0]} video and {counts[1][1]} audio streams,"
            f" input 1 has {counts[0][0]} and {counts[0][1]}"
        )
    reasons += _field_differences(number, "video", _main_video(first), _main_video(other), VIDEO_FIELDS)
    if include_audio and first.main_audio is not None and other.main_audio is not None:
        reasons += _field_differences(number, "audio", first.main_audio, other.main_audio, AUDIO_FIELDS)
    return reasons


def _field_differences(number: int, kind: str, a: object, b: object, fields: Sequence[str]) -> list[str]:
    return [
        f"input {number}: {kind} {name} {getattr(b, name)} differs from {getattr(a, name)}"
        for name in fields
        if getattr(a, name) != getattr(b, name)
    ]


def _mp4_fit(number: int, probe: ProbeResult, include_audio: bool) -> list[str]:
    reasons = []
    video, audio = _main_video(probe), probe.main_audio
    if video.codec not in MP4_VIDEO_CODECS:
        reasons.append(f"input {number}: video codec {video.codec} cannot be copied into MP4")
    if include_audio and audio is not None and audio.codec not in MP4_AUDIO_CODECS:
        reasons.append(f"input {number}: audio codec {audio.codec} cannot be copied into MP4")
    if video.frame_rate is None:
        reasons.append(f"input {number}: video frame rate unknown")
    return reasons


def _main_video(probe: ProbeResult) -> VideoStream:
    video = probe.main_video
    if video is None:
        raise ValueError(f"{probe.path.name} has no video stream")  # probe_media refuses these
    return video


def _moving(probe: ProbeResult) -> list[VideoStream]:
    return [v for v in probe.video if not v.attached_pic]


def _largest_size(video: VideoStream, scan: VideoScan | None) -> tuple[int, int]:
    """The header's display size, or a larger picture the scan met later in the stream."""
    size = video.display_size
    if scan is None or scan.largest is None:
        return size
    seen = scan.largest[::-1] if video.rotation in (90, 270) else scan.largest
    return seen if seen[0] * seen[1] > size[0] * size[1] else size


def _input_rate(video: VideoStream, scan: VideoScan | None) -> Fraction | None:
    """The header's rate; for a stream whose rate changes, the faster of its rates as scanned
    (the average a header gives such a stream, 1650/59 say, is no rate it ever had)."""
    changing = scan is not None and any(c.kind in ("frame rate", "frame timing") for c in scan.changes)
    if changing and scan is not None and scan.fastest is not None:
        return scan.fastest
    return _rate(video)


def _rate(video: VideoStream) -> Fraction | None:
    return video.avg_frame_rate or video.frame_rate


def _even(value: int) -> int:
    return max(2, value - value % 2)
