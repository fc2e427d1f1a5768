"""The quality method: ffmpeg decodes, OpenCV inpaints small windows, ffmpeg encodes.

    decoder ffmpeg --raw yuv420p--> reader --> inpaint worker(s) --> writer --raw--> encoder ffmpeg
                                       ^                                   |              |
                                       +---------- free frame buffers -----+     remux with source audio

Frames travel through a fixed pool of preallocated numpy buffers: the reader fills one with
`readv` straight from the decoder's pipe, a worker inpaints its windows in place, the writer
hands the same memory to the encoder's pipe and returns the buffer to the pool. No frame is
copied or allocated in Python, and every stage runs in its own thread: pipe I/O and `cv2.inpaint`
release the GIL, so decoding, inpainting and encoding overlap across both cores instead of
taking turns as they do in a read-process-write loop. With several inpaint workers, frame n goes
to worker n mod k and the writer collects in the same order, so output order needs no sorting.

Every ffmpeg runs under the shared media runner (`FfmpegProcess`, `run_ffmpeg`): whitelists,
forced demuxer, own process group, cancel/timeout/size limits. The decoder emits constant-rate
frames at the source's average rate, at the probed frame size (after ffmpeg's auto-rotation), in
limited range; the encoder restores the rate, sample aspect ratio and colour tags into a
video-only MP4; a last stream-copy pass joins it with the source's audio (copied) and writes
the MP4 with +faststart.
"""

from __future__ import annotations

import fcntl
import os
import queue
import subprocess
import threading
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path
from typing import IO, TypedDict

import cv2
import numpy as np

from mediacraft.shared.media import (
    FfmpegProcess,
    InvalidMedia,
    LocalResourceError,
    MediaLimits,
    ProbeResult,
    file_url,
    run_ffmpeg,
)
from mediacraft.shared.worker.contract import JobCancelledError
from mediacraft.worker_watermark.bounds import RunBounds
from mediacraft.worker_watermark.encoder import EncoderSettings, colour_args, even_crop
from mediacraft.worker_watermark.regions import Region
from mediacraft.worker_watermark.windows import DEFAULT_GROW, PlaneWindow, frame_bytes, plan_windows, plane_shapes

DEFAULT_RADIUS = 3
DEFAULT_BUFFERS = 5
DEFAULT_WORKERS = 2
_FALLBACK_RATE = Fraction(25)
_PIPE_BYTES = 1 << 20  # Linux's default cap for unprivileged F_SETPIPE_SZ


class _Watch(TypedDict):
    """What every ffmpeg of one job shares: its cancel event and bounds."""

    cancel_event: threading.Event
    timeout: float | None
    grace: float
    memory_limit: int | None


def inpaint_video(
    source: ProbeResult,
    regions: Sequence[Region],
    output: Path,
    *,
    bounds: RunBounds,
    encoder: EncoderSettings = EncoderSettings(),
    radius: int = DEFAULT_RADIUS,
    grow: int = DEFAULT_GROW,
    cancel_event: threading.Event | None = None,
    on_frames: Callable[[int], None] = lambda done: None,
    buffers: int = DEFAULT_BUFFERS,
    workers: int = DEFAULT_WORKERS,
) -> int:
    """Inpaint `regions` in every frame of `source` into the MP4 `output`; return frames written."""
    video = source.main_video
    width, height = source.media.width, source.media.height
    if video is None or not width or not height:
        raise InvalidMedia("the file has no video stream")
    cancel = cancel_event or threading.Event()
    windows = plan_windows(regions, width, height, radius=radius, grow=grow)
    rate = video.avg_frame_rate or video.frame_rate or _FALLBACK_RATE
    video_only = output.with_name(f"{output.stem}.video.mp4")
    common: _Watch = {
        "cancel_event": cancel,
        "timeout": bounds.timeout,
        "grace": bounds.grace,
        "memory_limit": bounds.memory_limit,
    }
    decoder = FfmpegProcess(decoder_args(source, bounds.media, width, height, rate), stdout=subprocess.PIPE, **common)
    encoder_process = FfmpegProcess(
        encoder_args(source, width, height, rate, video_only, encoder),
        stdin=subprocess.PIPE,
        outputs=[video_only],
        max_output_bytes=bounds.max_output_bytes,
        **common,
    )
    try:
        with decoder, encoder_process:
            pump = FramePump(
                decoder,
                encoder_process,
                width=width,
                height=height,
                windows=windows,
                cancel_event=cancel,
                on_frames=on_frames,
                buffers=buffers,
                workers=workers,
            )
            frames, broken = pump.run()
        # Both ffmpeg exited cleanly (their `wait` raises otherwise), yet a pipe broke: never
        # pass a truncated video off as a result.
        if broken:
            raise LocalResourceError("the encoder stopped before the last frame")
        if frames == 0:
            raise InvalidMedia("the video has no frames that can be decoded")
        if cancel.is_set():
            raise JobCancelledError("the job was cancelled")
        run_ffmpeg(
            remux_args(source, bounds.media, video_only, output, encoder),
            outputs=[output],
            max_output_bytes=bounds.max_output_bytes,
            **common,
        )
        return frames
    except BaseException:
        output.unlink(missing_ok=True)
        raise
    finally:
        video_only.unlink(missing_ok=True)
        for pipe in (decoder.stdout, encoder_process.stdin):
            _close_quietly(pipe)


def decoder_args(source: ProbeResult, limits: MediaLimits, width: int, height: int, rate: Fraction) -> list[str]:
    """ffmpeg arguments that write the main video as constant-rate raw yuv420p frames to stdout."""
    video = source.main_video
    assert video is not None
    # scale pins the size, so that a stream changing size mid-way still fits the buffers (it
    # passes frames through untouched otherwise); full-range sources are converted to the
    # limited range the encoder is told about.
    full_range = video.color_range == "pc" or (video.pix_fmt or "").startswith("yuvj")
    scale = f"scale=w={width}:h={height}" + (":out_range=tv" if full_range else "")
    # One decoding thread: the decoder outruns the encoder anyway, and every frame thread
    # holds its own reference frames (~20 MB more at 1080p).
    return [
        "-threads",
        "1",
        *source.input_args(limits=limits),
        "-map",
        f"0:{video.index}",
        "-vf",
        f"{scale},format=yuv420p",
        "-r",
        _rate_text(rate),
        "-f",
        "rawvideo",
        "pipe:1",
    ]


def encoder_args(
    source: ProbeResult,
    width: int,
    height: int,
    rate: Fraction,
    output: Path,
    encoder: EncoderSettings,
) -> list[str]:
    """ffmpeg arguments that encode raw frames from stdin into the video-only MP4 `output`."""
    video = source.main_video
    assert video is not None
    filters = [f for f in (even_crop(width, height), _sar_filter(video.sar)) if f]
    # A short input queue: queued raw frames are megabytes each.
    return [
        "-f",
        "rawvideo",
        "-pix_fmt",
        "yuv420p",
        "-video_size",
        f"{width}x{height}",
        "-framerate",
        _rate_text(rate),
        "-thread_queue_size",
        "2",
        "-i",
        "pipe:0",
        "-map",
        "0:v:0",
        *(["-vf", ",".join(filters)] if filters else []),
        *encoder.video_args(),
        *colour_args(video),
        "-f",
        "mp4",
        str(output),
    ]


def remux_args(
    source: ProbeResult, limits: MediaLimits, video: Path, output: Path, encoder: EncoderSettings
) -> list[str]:
    """ffmpeg arguments that join the encoded video with the source's audio into `output`.

    The audio is muxed in this separate, stream-copy pass rather than by the encoder: a second
    input in the encoder costs it a demuxer, its queues and probing decoders (about 40 MB at
    1080p, beside x264's ~280 MB, which keeps a 1080p job under 500 MB), while this pass takes a
    fraction of a second and writes the +faststart index, which rewrites the file anyway.
    """
    return [
        "-protocol_whitelist",
        "file",
        "-format_whitelist",
        "mov",
        "-f",
        "mov",
        "-i",
        file_url(video),
        *source.input_args(limits=limits),
        "-map",
        "0:v:0",
        "-map",
        "1:a?",
        "-c:v",
        "copy",
        *encoder.audio_args(source.audio),
        *encoder.container_args(),
        str(output),
    ]


class FramePump:
    """Moves frames decoder -> inpaint workers -> encoder through a fixed pool of buffers."""

    def __init__(
        self,
        decoder: FfmpegProcess,
        encoder: FfmpegProcess,
        *,
        width: int,
        height: int,
        windows: Sequence[PlaneWindow],
        cancel_event: threading.Event,
        on_frames: Callable[[int], None],
        buffers: int = DEFAULT_BUFFERS,
        workers: int = DEFAULT_WORKERS,
    ) -> None:
        assert decoder.stdout is not None and encoder.stdin is not None, "start both processes first"
        self._decoder, self._encoder = decoder, encoder
        self._in_fd, self._out_fd = decoder.stdout.fileno(), encoder.stdin.fileno()
        self._cancel = cancel_event
        self._on_frames = on_frames
        self._workers = max(1, workers)
        size = frame_bytes(width, height)
        self._buffers = [np.empty(size, dtype=np.uint8) for _ in range(max(buffers, self._workers + 2))]
        self._views = [b.data for b in self._buffers]
        # The (window view, mask, radius) of every buffer, computed once: inpainting a frame then
        # allocates nothing.
        self._jobs = [_window_views(b, width, height, windows) for b in self._buffers]
        self._free: queue.SimpleQueue[int | None] = queue.SimpleQueue()
        self._queued: list[queue.SimpleQueue[int | None]] = [queue.SimpleQueue() for _ in range(self._workers)]
        self._done: list[queue.SimpleQueue[int | None]] = [queue.SimpleQueue() for _ in range(self._workers)]
        for index in range(len(self._buffers)):
            self._free.put(index)
        self._lock = threading.Lock()
        self._failure: BaseException | None = None
        self._broken = False
        self._stopping = threading.Event()
        self._frames = 0
        for fd in (self._in_fd, self._out_fd):
            _widen_pipe(fd, min(size, _PIPE_BYTES))

    def run(self) -> tuple[int, bool]:
        """Pump until the decoder ends; return (frames written, whether a pipe broke early)."""
        threads = [
            threading.Thread(target=self._read, name="inpaint-reader", daemon=True),
            threading.Thread(target=self._write, name="inpaint-writer", daemon=True),
        ]
        threads += [
            threading.Thread(target=self._work, args=(n,), name=f"inpaint-{n}", daemon=True)
            for n in range(self._workers)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if self._failure is not None:
            raise self._failure
        return self._frames, self._broken

    # -- stages --------------------------------------------------------------------------------

    def _read(self) -> None:
        sequence = 0
        try:
            while True:
                index = self._free.get()
                if index is None or not self._read_frame(self._views[index]):
                    break
                self._queued[sequence % self._workers].put(index)
                sequence += 1
        except BaseException as exc:
            self._fail(exc)
        finally:
            for queued in self._queued:
                queued.put(None)
            if self._stopping.is_set():
                self._drain()

    def _work(self, number: int) -> None:
        queued, done, jobs = self._queued[number], self._done[number], self._jobs
        flags = cv2.INPAINT_TELEA
        try:
            while (index := queued.get()) is not None:
                if self._cancel.is_set():
                    raise JobCancelledError("the job was cancelled")
                for view, mask, radius in jobs[index]:
                    cv2.inpaint(view, mask, radius, flags, dst=view)
                done.put(index)
        except BaseException as exc:
            self._fail(exc)
        finally:
            done.put(None)

    def _write(self) -> None:
        sequence = 0
        try:
            while (index := self._done[sequence % self._workers].get()) is not None:
                self._write_frame(self._views[index])
                self._free.put(index)
                sequence += 1
                self._frames = sequence
                self._on_frames(sequence)
        except BrokenPipeError:
            # The encoder ended early; its own exit status says why (wait() raises it).
            self._broken = True
            self._abort()
        except BaseException as exc:
            self._fail(exc)
        finally:
            # The writer is the only user of the encoder's stdin: end of input, or of the job.
            # ffmpeg blocked reading it would otherwise wait for the kill after the grace period.
            _close_quietly(self._encoder.stdin)

    # -- pipes ---------------------------------------------------------------------------------

    def _read_frame(self, view: memoryview) -> bool:
        """Fill `view` from the decoder; False at the end of the stream."""
        got, size = 0, len(view)
        while got < size:
            n = os.readv(self._in_fd, [view[got:]])
            if n == 0:
                return False  # a partial frame only happens when the decoder died; wait() says why
            got += n
        return True

    def _write_frame(self, view: memoryview) -> None:
        sent, size = 0, len(view)
        while sent < size:
            sent += os.write(self._out_fd, view[sent:])

    def _drain(self) -> None:
        """Discard what the decoder still writes, so that it can act on its stop signal rather
        than block on a full pipe until the kill after the grace period."""
        scratch = bytearray(1 << 16)
        try:
            while os.readv(self._in_fd, [scratch]) > 0:
                pass
        except OSError:
            pass

    # -- failure -------------------------------------------------------------------------------

    def _fail(self, exc: BaseException) -> None:
        with self._lock:
            if self._failure is None:
                self._failure = exc
        self._abort()

    def _abort(self) -> None:
        """Stop both processes and wake every stage so that all threads end."""
        self._stopping.set()
        self._decoder.stop(reason="aborted")
        self._encoder.stop(reason="aborted")
        self._free.put(None)
        for q in (*self._queued, *self._done):
            q.put(None)


def _window_views(
    buffer: np.ndarray,
    width: int,
    height: int,
    windows: Sequence[PlaneWindow],
) -> list[tuple[np.ndarray, np.ndarray, int]]:
    planes, offset = [], 0
    for rows, cols in plane_shapes(width, height):
        planes.append(buffer[offset : offset + rows * cols].reshape(rows, cols))
        offset += rows * cols
    return [(planes[w.plane][w.box.top : w.box.bottom, w.box.left : w.box.right], w.mask, w.radius) for w in windows]


def _widen_pipe(fd: int, size: int) -> None:
    # Fewer, larger pipe transfers: a 64 KiB default pipe needs ~20 wake-ups per 720p frame.
    try:
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, size)
    except OSError:
        pass  # above this user's pipe quota: the default size still works


def _close_quietly(pipe: IO[bytes] | None) -> None:
    try:
        if pipe is not None:
            pipe.close()
    except OSError:
        pass  # the other end is gone; nothing is buffered on our side


def _rate_text(rate: Fraction) -> str:
    return f"{rate.numerator}/{rate.denominator}"


def _sar_filter(sar: Fraction) -> str | None:
    return None if sar == 1 else f"setsar={sar.numerator}/{sar.denominator}"
