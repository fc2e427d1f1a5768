"""Probe an untrusted local file safely and refuse what exceeds the limits, before decoding.

    result = probe_media(path, limits)          # raises InvalidInput subclasses with stable codes
    result.media                                # MediaInfo for the task document
    result.main_video, result.main_audio        # VideoStream / AudioStream details (or None)
    result.input_args()                         # safe ffmpeg input arguments for this file

The steps, cheapest first: the file size against `limits.max_file_size` (`file_too_large`); the
magic bytes and top-level structure (`sniff.sniff_file`: `unsupported_format`, `invalid_media`);
then ffprobe with `-protocol_whitelist file,pipe`, `-format_whitelist` and `-f` set to the sniffed
demuxer (external references off), a bounded probe size, a heap cap (`limits.probe_memory`) and
a timeout, as an argument list (never a shell), in its own process group; then the
declared streams against the limits (`too_many_streams`, `media_too_large`, `media_too_long`,
`frame_rate_too_high`) and for consistency (`invalid_media`: a video that cannot be decoded, or
that declares more frames than its duration allows). ffprobe reads headers and at most a few
packets, so a tiny file that declares a 4K 30-minute video is refused without being decoded.

`MediaInfo.width`/`height` are the frame size ffmpeg produces when it decodes the file (coded size,
swapped for a 90-degree rotation, since ffmpeg auto-rotates): the pixel space in which a user
picks watermark regions. `frame_count` is the container's count, or duration x frame rate when
the container has none (Matroska).

Call from a worker thread or `asyncio.to_thread`: it blocks on ffprobe.
"""

from __future__ import annotations

import json
import math
import os
import re
import resource
import signal
import subprocess
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

from mediacraft.shared.media.errors import (
    FileTooLarge,
    FrameRateTooHigh,
    InvalidMedia,
    MediaTooLarge,
    MediaTooLong,
    MediaToolUnavailable,
    OutOfMemory,
    ToolKilled,
    TooManyStreams,
    UnsupportedFormat,
    cause_in_text,
    killed_by,
)
from mediacraft.shared.media.limits import MediaLimits
from mediacraft.shared.media.sniff import ContainerFormat, sniff_file
from mediacraft.shared.tasks import MediaInfo

FFPROBE = "ffprobe"
PROTOCOL_WHITELIST = "file,pipe"
# ffprobe's defaults, stated so that a future ffmpeg cannot widen how much it reads.
PROBE_SIZE = 5_000_000
ANALYZE_DURATION_US = 5_000_000
_STDERR_LIMIT = 4000

Expect = Literal["video", "image", "any"]


@dataclass(frozen=True)
class VideoStream:
    """One video stream as ffprobe declares it; the fields a stream-copy merge must match."""

    index: int
    codec: str | None
    profile: str | None
    level: int | None
    width: int
    height: int
    pix_fmt: str | None
    sar: Fraction  # sample aspect ratio; 1 when unset
    frame_rate: Fraction | None  # r_frame_rate: the base rate of the stream
    avg_frame_rate: Fraction | None
    time_base: str | None
    color_range: str | None
    color_space: str | None
    color_transfer: str | None
    color_primaries: str | None
    field_order: str | None
    rotation: int  # degrees, multiple of 90, normalised to 0..270
    extradata_hash: str | None
    duration: float | None
    frame_count: int | None
    attached_pic: bool  # cover art, not a moving picture
    start_time: float | None = None  # seconds, on the container's clock

    @property
    def frame_size(self) -> tuple[int, int]:
        """Size of the decoded frames, after ffmpeg's automatic rotation."""
        return (self.height, self.width) if self.rotation in (90, 270) else (self.width, self.height)

    @property
    def display_size(self) -> tuple[int, int]:
        """Size as shown: frame size with the sample aspect ratio applied (width stretched)."""
        width = round(self.width * self.sar)
        return (self.height, width) if self.rotation in (90, 270) else (width, self.height)


@dataclass(frozen=True)
class AudioStream:
    """One audio stream as ffprobe declares it."""

    index: int
    codec: str | None
    profile: str | None
    sample_rate: int | None
    channels: int | None
    channel_layout: str | None
    sample_fmt: str | None
    time_base: str | None
    extradata_hash: str | None
    duration: float | None
    start_time: float | None = None  # seconds, on the container's clock


@dataclass(frozen=True)
class ProbeResult:
    """A probed file that passed the limits: container, streams and the task's MediaInfo."""

    path: Path
    container: ContainerFormat
    size: int
    format_name: str | None
    duration: float | None
    stream_count: int
    video: tuple[VideoStream, ...]
    audio: tuple[AudioStream, ...]
    media: MediaInfo
    start_time: float | None = None  # the earliest stream's start: ffmpeg counts inputs from here

    @property
    def main_video(self) -> VideoStream | None:
        """The first video stream that is not cover art."""
        return next((v for v in self.video if not v.attached_pic), None)

    @property
    def main_audio(self) -> AudioStream | None:
        """The first audio stream."""
        return self.audio[0] if self.audio else None

    def input_args(self, *, limits: MediaLimits | None = None, protocols: str = PROTOCOL_WHITELIST) -> list[str]:
        """ffmpeg arguments that open this file with its demuxer forced and the whitelists set.

        With `limits`, decoders refuse frames above `limits.max_pixels`, should the stream change
        size after its headers.
        """
        demuxer = self.container.demuxer
        args = [
            "-protocol_whitelist",
            protocols,
            "-format_whitelist",
            demuxer,
            "-f",
            demuxer,
            *self.container.demuxer_options,
        ]
        if limits is not None:
            args += ["-max_pixels", str(limits.max_pixels)]
        return [*args, "-i", file_url(self.path)]


def file_url(path: Path) -> str:
    """The `file:` URL of a local path, so that a name with a colon is never read as a protocol."""
    return "file:" + str(Path(path).resolve())


def probe_media(
    path: Path,
    limits: MediaLimits | None = None,
    *,
    expect: Expect = "video",
    ffprobe: str = FFPROBE,
) -> ProbeResult:
    """Check, sniff and ffprobe a local file; raise InvalidInput subclasses on anything unfit.

    `expect="video"` requires a video container with a moving video stream and a known duration;
    `"image"` requires an image format; `"any"` accepts either.
    """
    limits = limits or MediaLimits()
    path = Path(path)
    size = _file_size(path)
    if size > limits.max_file_size:
        raise FileTooLarge(f"the file is {size} bytes; the limit is {limits.max_file_size}")
    container = sniff_file(path)
    if expect != "any" and container.kind != expect:
        raise UnsupportedFormat(f"expected a {expect} file, got a {container.name} {container.kind}")
    data = read_ffprobe(path, container, timeout=limits.probe_timeout, memory=limits.probe_memory, ffprobe=ffprobe)
    result = parse_ffprobe(data, path=path, container=container, size=size)
    check_limits(result, limits, expect=expect)
    return result


def read_ffprobe(
    path: Path,
    container: ContainerFormat,
    *,
    timeout: float = 30.0,
    memory: int | None = 512 * 1024**2,
    ffprobe: str = FFPROBE,
) -> dict[str, Any]:
    """Run ffprobe with the whitelists and the demuxer forced; return its parsed JSON.

    The raw step of `probe_media`, which should be preferred: this one skips the size, magic-byte
    and limit checks.
    """
    args = [
        ffprobe,
        "-hide_banner",
        "-v",
        "error",
        "-protocol_whitelist",
        PROTOCOL_WHITELIST,
        "-format_whitelist",
        container.demuxer,
        "-f",
        container.demuxer,
        *container.demuxer_options,
        "-probesize",
        str(PROBE_SIZE),
        "-analyzeduration",
        str(ANALYZE_DURATION_US),
        "-show_format",
        "-show_streams",
        "-show_data_hash",
        "SHA256",
        "-of",
        "json",
        file_url(path),
    ]
    returncode, stdout, stderr = _run_bounded(args, timeout, memory)
    if returncode != 0:
        killed = killed_by(returncode)
        if killed is not None:  # stopped from outside: the machine's fault, not the file's
            raise ToolKilled(f"ffprobe was {killed.message}")
        cause = cause_in_text(stderr)
        if cause is not None and (memory is None or cause is not OutOfMemory):
            # under a memory cap, running out of memory is the file asking for too much
            raise cause(f"ffprobe ran out of a local resource: {last_error_line(stderr)}")
        if "not on whitelist" in stderr:
            raise UnsupportedFormat(f"the file is not a {container.name} file")
        raise InvalidMedia(f"the file could not be read as {container.name}: {last_error_line(stderr)}")
    try:
        data = json.loads(stdout)
    except ValueError as exc:
        raise InvalidMedia("the file could not be read: the prober returned no description") from exc
    if not isinstance(data, dict) or not isinstance(data.get("format"), dict):
        raise InvalidMedia(f"the file could not be read as {container.name}")
    return data


def parse_ffprobe(data: dict[str, Any], *, path: Path, container: ContainerFormat, size: int) -> ProbeResult:
    """Turn ffprobe's JSON (`-show_format -show_streams`) into a ProbeResult; pure."""
    fmt = data.get("format") or {}
    streams = [s for s in data.get("streams") or [] if isinstance(s, dict)]
    video = tuple(_video_stream(s) for s in streams if s.get("codec_type") == "video")
    audio = tuple(_audio_stream(s) for s in streams if s.get("codec_type") == "audio")
    duration = _positive_float(fmt.get("duration"))
    if duration is None:
        every: tuple[VideoStream | AudioStream, ...] = (*video, *audio)
        known = [s.duration for s in every if s.duration]
        duration = max(known) if known else None
    return ProbeResult(
        path=Path(path),
        container=container,
        size=size,
        format_name=fmt.get("format_name"),
        duration=duration,
        stream_count=max(len(streams), _int(fmt.get("nb_streams")) or 0),
        video=video,
        audio=audio,
        media=_media_info(container, duration, video, audio),
        start_time=_float(fmt.get("start_time")),
    )


def check_limits(result: ProbeResult, limits: MediaLimits, *, expect: Expect = "video") -> None:
    """Raise the InvalidInput subclass for the first limit `result` exceeds; pure."""
    if result.stream_count > limits.max_streams:
        raise TooManyStreams(f"the file has {result.stream_count} streams; the limit is {limits.max_streams}")
    for v in result.video:
        if v.width <= 0 or v.height <= 0:
            raise InvalidMedia("a video stream has no frame size")
        if v.width > limits.max_width or v.height > limits.max_height or v.width * v.height > limits.max_pixels:
            raise MediaTooLarge(
                f"the video is {v.width}x{v.height}; the limit is {limits.max_width}x{limits.max_height}"
                f" and {limits.max_pixels} pixels"
            )
        rate = v.avg_frame_rate or v.frame_rate
        if not v.attached_pic and rate and rate > limits.max_frame_rate:
            raise FrameRateTooHigh(f"the video runs at {float(rate):.3g} fps; the limit is {limits.max_frame_rate:g}")
    if result.duration is not None and result.duration > limits.max_duration:
        raise MediaTooLong(f"the media lasts {_minutes(result.duration)}; the limit is {_minutes(limits.max_duration)}")
    if expect == "video":
        _check_playable_video(result, limits)
    if expect == "image" and not result.video:
        raise InvalidMedia("the file holds no image")


def _check_playable_video(result: ProbeResult, limits: MediaLimits) -> None:
    video = result.main_video
    if video is None:
        raise InvalidMedia("the file has no video stream")
    if result.duration is None:
        raise InvalidMedia("the video's duration is unknown")
    if video.pix_fmt is None:
        raise InvalidMedia("the video stream cannot be decoded")
    # A sample table can declare millions of frames in a second: the headers contradict each other.
    length = video.duration or result.duration
    if video.frame_count is not None and video.frame_count > length * limits.max_frame_rate + 1:
        raise InvalidMedia(f"the video declares {video.frame_count} frames in {length:.1f} s")


def last_error_line(stderr: str) -> str:
    """The last non-empty line of ffmpeg's stderr, without paths or object addresses."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    if not lines:
        return "unknown error"
    line = re.sub(r"^\[[^\]]*@ 0x[0-9a-f]+\]\s*", "", lines[-1])
    line = re.sub(r"(?:file:)?/[^\s:'\"]+", lambda m: os.path.basename(m.group(0)), line)
    return line[:200]


def _run_bounded(args: list[str], timeout: float, memory: int | None) -> tuple[int, str, str]:
    """Run a short tool in its own process group with a heap limit; kill the group on timeout."""
    try:
        proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except FileNotFoundError as exc:
        raise MediaToolUnavailable(f"{args[0]} is not installed") from exc
    if memory is not None:
        limit_memory(proc.pid, memory)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc.pid)
        proc.communicate()
        raise InvalidMedia(f"the file took longer than {timeout:g} s to inspect") from None
    except BaseException:
        _kill_group(proc.pid)
        proc.communicate()
        raise
    return proc.returncode, stdout.decode("utf-8", "replace"), stderr.decode("utf-8", "replace")[-_STDERR_LIMIT:]


def limit_memory(pid: int, limit: int) -> None:
    """Cap a child's heap (RLIMIT_DATA) so that a crafted header cannot make it allocate gigabytes.

    Applied right after spawning rather than in `preexec_fn`, which is unsafe in threaded
    programs; the tool spends its first milliseconds loading libraries, before it reads input.
    """
    try:
        resource.prlimit(pid, resource.RLIMIT_DATA, (limit, limit))
    except (ProcessLookupError, PermissionError):
        pass  # already exited, or a sandbox forbids it: the timeout still bounds the run


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _file_size(path: Path) -> int:
    try:
        st = path.stat()
    except FileNotFoundError as exc:
        raise InvalidMedia("the file is missing") from exc
    if not path.is_file():
        raise UnsupportedFormat("not a regular file")
    return st.st_size


def _video_stream(s: dict[str, Any]) -> VideoStream:
    return VideoStream(
        index=_int(s.get("index")) or 0,
        codec=s.get("codec_name"),
        profile=s.get("profile"),
        level=_int(s.get("level")),
        width=_int(s.get("width")) or 0,
        height=_int(s.get("height")) or 0,
        pix_fmt=s.get("pix_fmt"),
        sar=_fraction(s.get("sample_aspect_ratio"), sep=":") or Fraction(1),
        frame_rate=_fraction(s.get("r_frame_rate")),
        avg_frame_rate=_fraction(s.get("avg_frame_rate")),
        time_base=s.get("time_base"),
        color_range=s.get("color_range"),
        color_space=s.get("color_space"),
        color_transfer=s.get("color_transfer"),
        color_primaries=s.get("color_primaries"),
        field_order=s.get("field_order"),
        rotation=_rotation(s),
        extradata_hash=s.get("extradata_hash"),
        duration=_stream_duration(s),
        frame_count=_int(s.get("nb_frames")),
        attached_pic=bool((s.get("disposition") or {}).get("attached_pic")),
        start_time=_float(s.get("start_time")),
    )


def _audio_stream(s: dict[str, Any]) -> AudioStream:
    return AudioStream(
        index=_int(s.get("index")) or 0,
        codec=s.get("codec_name"),
        profile=s.get("profile"),
        sample_rate=_int(s.get("sample_rate")),
        channels=_int(s.get("channels")),
        channel_layout=s.get("channel_layout"),
        sample_fmt=s.get("sample_fmt"),
        time_base=s.get("time_base"),
        extradata_hash=s.get("extradata_hash"),
        duration=_stream_duration(s),
        start_time=_float(s.get("start_time")),
    )


def _media_info(
    container: ContainerFormat,
    duration: float | None,
    videos: tuple[VideoStream, ...],
    audios: tuple[AudioStream, ...],
) -> MediaInfo:
    video = next((v for v in videos if not v.attached_pic), videos[0] if videos else None)
    audio = audios[0] if audios else None
    info = MediaInfo(
        format_name=container.name,
        duration=duration,
        has_audio=audio is not None,
        audio_codec=audio.codec if audio else None,
    )
    if video is None:
        return info
    rate = video.avg_frame_rate or video.frame_rate
    frame_count = video.frame_count
    length = video.duration or duration
    if frame_count is None and rate and length and not video.attached_pic:
        frame_count = round(length * float(rate))
    width, height = video.frame_size
    return info.model_copy(
        update={
            "width": width,
            "height": height,
            "video_codec": video.codec,
            "frame_rate": round(float(rate), 6) if rate else None,
            "frame_count": frame_count,
        }
    )


def _stream_duration(s: dict[str, Any]) -> float | None:
    """The stream's duration, or Matroska's per-track DURATION tag (HH:MM:SS.nnnnnnnnn)."""
    duration = _positive_float(s.get("duration"))
    if duration is not None:
        return duration
    tag = (s.get("tags") or {}).get("DURATION")
    if not isinstance(tag, str):
        return None
    try:
        hours, minutes, seconds = tag.split(":")
        return _positive_float(int(hours) * 3600 + int(minutes) * 60 + float(seconds))
    except ValueError:
        return None


def _rotation(s: dict[str, Any]) -> int:
    for side in s.get("side_data_list") or []:
        if isinstance(side, dict) and "rotation" in side:
            return _normal_rotation(side.get("rotation"))
    return _normal_rotation((s.get("tags") or {}).get("rotate"))


def _normal_rotation(value: Any) -> int:
    try:
        degrees = round(float(value))
    except (TypeError, ValueError):
        return 0
    return (round(degrees / 90) * 90) % 360


def _fraction(value: Any, sep: str = "/") -> Fraction | None:
    if not isinstance(value, str) or sep not in value:
        return None
    num, _, den = value.partition(sep)
    try:
        n, d = int(num), int(den)
    except ValueError:
        return None
    return Fraction(n, d) if n > 0 and d > 0 else None


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _float(value: Any) -> float | None:
    """A finite number, or None (ffprobe writes "N/A" for unknown values)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _positive_float(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 and number == number and number != float("inf") else None


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.1f} s"
