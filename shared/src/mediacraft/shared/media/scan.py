"""Read a whole video stream for changes its headers do not declare: size, format, frame rate.

ffprobe reads headers and a few packets, so a clip whose picture grows from 320x240 to
480x270 at 02:00 (two recordings joined, a stream that switched quality) probes like a
320x240 clip. A lossless merge copies such a change straight into its output; this scan finds
it first, cheaply:

- picture size, pixel format and sample aspect ratio are read from key frames only
  (`-skip_frame nokey`): a new size or format needs a new sequence header, which comes with a
  key frame, so decoding the key frames sees every such change;
- the frame rate is read from packet timestamps (demuxing, no decoding): presentation times in
  order, and any step between frames more than 1 % (plus a millisecond of rounding) away from
  the first step is a change: of "frame rate" when the steps after it settle elsewhere, of
  "frame timing" when they come back (a jump or overlap where two recordings meet). A clip with
  variable frame rate counts as changing.

The scan runs ffprobe like `probe_media` does (demuxer forced, protocol and format whitelists, a
heap cap, its own process group), reads its output as it comes (memory stays flat however long
the clip), and stops it on cancel or timeout.
"""

from __future__ import annotations

import heapq
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction

from mediacraft.shared.media.errors import (
    InvalidMedia,
    MediaToolUnavailable,
    ProcessingTimeout,
    ToolKilled,
    killed_by,
)
from mediacraft.shared.media.limits import MediaLimits
from mediacraft.shared.media.probe import FFPROBE, ProbeResult, limit_memory
from mediacraft.shared.worker.contract import JobCancelledError

# Frames a decoder may hold back for reordering (H.264 and HEVC allow 16): packets arrive in
# decoding order, and a window this wide puts their presentation times back in order.
_REORDER_WINDOW = 32
_RATE_TOLERANCE = 0.01
_ROUNDING = 0.0011  # seconds: timestamps in milliseconds (Matroska) step 33, 33, 34 ms at 30 fps


@dataclass(frozen=True)
class StreamChange:
    """The first change of one kind in a stream: what changed, from what to what, and when."""

    kind: str  # "picture" (size, pixel format or aspect ratio), "frame rate" or "frame timing"
    before: str
    after: str
    at: float  # seconds from the clip's start

    def describe(self) -> str:
        if self.kind == "frame timing":  # a jump or overlap, the rate the same on both sides
            return f"frame timing is uneven at {clock(self.at)} ({self.before})"
        return f"{self.kind} changes from {self.before} to {self.after} at {clock(self.at)}"


@dataclass(frozen=True)
class VideoScan:
    """What a scan saw: the first change of each kind, the largest picture and the fastest rate."""

    changes: tuple[StreamChange, ...] = ()
    largest: tuple[int, int] | None = None  # display size (aspect ratio applied) of the largest key frame
    fastest: Fraction | None = None  # the highest frame rate before or after a change


def clock(seconds: float) -> str:
    """`mm:ss` (or `h:mm:ss`) for a time in a clip, as shown to the person who uploaded it."""
    whole = max(0, int(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def scan_video(
    probe: ProbeResult,
    limits: MediaLimits,
    *,
    cancel_event: threading.Event | None = None,
    timeout: float | None = None,
    ffprobe: str = FFPROBE,
) -> VideoScan:
    """Read the main video through: its first picture and frame-rate changes, largest picture."""
    video = probe.main_video
    if video is None:
        return VideoScan()
    args = [
        ffprobe,
        "-hide_banner",
        "-v",
        "error",
        "-select_streams",
        str(video.index),
        "-skip_frame",
        "nokey",
        "-show_entries",
        "packet=pts_time:frame=width,height,pix_fmt,sample_aspect_ratio,best_effort_timestamp_time",
        "-of",
        "compact",
        *probe.input_args(limits=limits),
    ]
    start = probe.start_time or 0.0
    with _Lines(args, limits.probe_memory, cancel_event, timeout) as lines:
        return read_scan(lines, start=start)


def read_scan(lines: Iterable[str], *, start: float = 0.0) -> VideoScan:
    """Parse ffprobe's compact output (`packet|pts_time=…`, `frame|…`) into a VideoScan; pure."""
    picture: StreamChange | None = None
    rate: StreamChange | None = None
    first_look: str | None = None
    largest: tuple[int, int] | None = None
    steps = _Steps()
    for line in lines:
        section, _, rest = line.strip().partition("|")
        fields = dict(part.partition("=")[::2] for part in rest.split("|") if "=" in part)
        if section == "packet" and rate is None:
            pts = _seconds(fields.get("pts_time"))
            if pts is not None:
                rate = steps.add(pts - start)
        elif section == "frame":
            look, size = _look(fields), _display_size(fields)
            if look is None or size is None:
                continue
            if largest is None or size[0] * size[1] > largest[0] * largest[1]:
                largest = size
            if first_look is None:
                first_look = look
            elif look != first_look and picture is None:
                at = _seconds(fields.get("best_effort_timestamp_time"))
                picture = StreamChange("picture", first_look, look, max(0.0, (at or 0.0) - start))
    if rate is None:
        rate = steps.finish()
    changes = tuple(change for change in (picture, rate) if change is not None)
    return VideoScan(changes=changes, largest=largest, fastest=steps.fastest())


class _Steps:
    """Presentation times in order (through a small reordering heap) and the step between them.

    The first step that strays from the first one marks a change. Whether the rate really changed
    is told by the median of the steps that follow, since the frames where two recordings meet are
    often uneven; the rates themselves are means (timestamps in milliseconds make 30 fps step
    33, 33, 34 ms), snapped to a standard rate when one is within 0.5 %.
    """

    _AFTER = 120  # seconds of frames: millisecond timestamps tell 30 from 29.97 fps over a span this long

    def __init__(self) -> None:
        self._heap: list[float] = []
        self._last: float | None = None
        self._first_step: float | None = None
        self._before: list[float] = [0.0, 0.0]  # sum and count of the steps before any change
        self._changed_at: float | None = None
        self._after: list[float] = []

    def add(self, pts: float) -> StreamChange | None:
        heapq.heappush(self._heap, pts)
        if len(self._heap) <= _REORDER_WINDOW:
            return None
        return self._take(heapq.heappop(self._heap))

    def finish(self) -> StreamChange | None:
        while self._heap:
            change = self._take(heapq.heappop(self._heap))
            if change is not None:
                return change
        return self._change() if self._changed_at is not None else None

    def _take(self, pts: float) -> StreamChange | None:
        last, self._last = self._last, pts
        if last is None:
            return None
        step = pts - last
        if self._first_step is None:
            self._first_step = step
        if self._changed_at is not None:
            self._after.append(step)
            return self._change() if len(self._after) >= self._AFTER else None
        if not _close(step, self._first_step):
            self._changed_at = max(0.0, last)
            self._after.append(step)
        else:
            self._before[0] += step
            self._before[1] += 1
        return None

    def fastest(self) -> Fraction | None:
        """The higher of the rate before and the rate after a change (None without two frames)."""
        rates = [rate for rate in (self._before_rate(), self._after_rate()) if rate is not None]
        return max(rates) if rates else None

    def _before_rate(self) -> Fraction | None:
        total, count = self._before
        return _standard(count / total) if total > 0 else None

    def _after_rate(self) -> Fraction | None:
        if not self._after:
            return None
        settled = self._after[len(self._after) // 4 :]  # past the uneven steps where two parts join
        median = sorted(settled)[len(settled) // 2]
        steps = [step for step in settled if _close(step, median)]
        total = sum(steps)
        return _standard(len(steps) / total) if total > 0 else None

    def _change(self) -> StreamChange:
        assert self._first_step is not None and self._changed_at is not None
        median = sorted(self._after)[len(self._after) // 2]
        kind = "frame timing" if _close(median, self._first_step) else "frame rate"
        return StreamChange(kind, _rate(self._before_rate()), _rate(self._after_rate()), self._changed_at)


def _close(step: float, first: float) -> bool:
    return abs(step - first) <= first * _RATE_TOLERANCE + _ROUNDING


def _look(fields: dict[str, str]) -> str | None:
    width, height = fields.get("width"), fields.get("height")
    if not width or not height or width == "N/A":
        return None
    sar = fields.get("sample_aspect_ratio") or "1:1"
    if sar in ("0:1", "N/A"):
        sar = "1:1"
    look = f"{width}x{height} {fields.get('pix_fmt') or '?'}"
    return look if sar == "1:1" else f"{look} (pixel aspect {sar})"


def _display_size(fields: dict[str, str]) -> tuple[int, int] | None:
    try:
        width, height = int(fields.get("width", "")), int(fields.get("height", ""))
    except ValueError:
        return None
    num, _, den = (fields.get("sample_aspect_ratio") or "1:1").partition(":")
    try:
        sar = Fraction(int(num), int(den))
    except (ValueError, ZeroDivisionError):
        sar = Fraction(1)
    return (round(width * (sar or 1)), height)


_STANDARD_RATES = tuple(
    Fraction(n, d)
    for n, d in ((24000, 1001), (24, 1), (25, 1), (30000, 1001), (30, 1), (50, 1), (60000, 1001), (60, 1))
)


def _standard(rate: float) -> Fraction:
    """A measured rate as a fraction: the nearest standard rate within 0.5 % of it, else n/1001 or simpler."""
    nearest = min(_STANDARD_RATES, key=lambda standard: abs(rate - float(standard)))
    if abs(rate - float(nearest)) <= 0.005 * float(nearest):
        return nearest
    return Fraction(rate).limit_denominator(1001)


def _rate(rate: Fraction | None) -> str:
    return "uneven timing" if rate is None else f"{float(rate):.3g} fps"


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value not in (None, "", "N/A") else None
    except ValueError:
        return None


class _Lines:
    """ffprobe's stdout line by line, the process stopped on cancel, timeout or early exit."""

    def __init__(
        self, args: list[str], memory: int | None, cancel_event: threading.Event | None, timeout: float | None
    ) -> None:
        self._args = args
        self._memory = memory
        self._cancel = cancel_event or threading.Event()
        self._timeout = timeout
        self._done = threading.Event()
        self._reason: str | None = None
        self._proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> Iterator[str]:
        try:
            self._proc = subprocess.Popen(
                self._args,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                errors="replace",
                start_new_session=True,
            )
        except FileNotFoundError as exc:
            raise MediaToolUnavailable(f"{self._args[0]} is not installed") from exc
        if self._memory is not None:
            limit_memory(self._proc.pid, self._memory)
        self._stderr: list[str] = []
        self._threads = [
            threading.Thread(target=self._watch, daemon=True, name="scan-watch"),
            threading.Thread(target=self._drain_stderr, daemon=True, name="scan-stderr"),
        ]
        for thread in self._threads:
            thread.start()
        assert self._proc.stdout is not None
        return iter(self._proc.stdout)

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        assert self._proc is not None
        if exc is not None:
            self._kill()
        try:
            # Exited but not reaped: its group id cannot be reused while the watcher may still kill it.
            os.waitid(os.P_PID, self._proc.pid, os.WEXITED | os.WNOWAIT)
        except ChildProcessError:
            pass
        self._done.set()
        for thread in self._threads:
            thread.join(timeout=5)
        returncode = self._proc.wait()
        if self._proc.stdout is not None:
            self._proc.stdout.close()
        if exc is not None:
            return
        if self._reason == "cancel":
            raise JobCancelledError("the job was cancelled")
        if self._reason == "timeout":
            raise ProcessingTimeout(f"reading the clip took longer than {self._timeout:g} s")
        killed = killed_by(returncode)
        if killed is not None:
            raise ToolKilled(f"ffprobe was {killed.message}")
        if returncode != 0:
            error = InvalidMedia("the clip could not be read to its end")
            error.detail = "".join(self._stderr)
            raise error

    def _watch(self) -> None:
        started = time.monotonic()
        while True:  # look before the first wait: a job cancelled already stops ffprobe at once
            if self._cancel.is_set():
                self._reason = "cancel"
            elif self._timeout is not None and time.monotonic() - started > self._timeout:
                self._reason = "timeout"
            if self._reason is not None:
                self._kill()
                return
            if self._done.wait(0.05):
                return

    def _drain_stderr(self) -> None:
        assert self._proc is not None and self._proc.stderr is not None
        with self._proc.stderr:
            for line in self._proc.stderr:
                if len(self._stderr) < 20:
                    self._stderr.append(line)

    def _kill(self) -> None:
        assert self._proc is not None
        try:
            os.killpg(self._proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
