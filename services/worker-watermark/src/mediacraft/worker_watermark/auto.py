"""The `auto` method: per region, recover a translucent mark, fill an opaque one from other frames,
or inpaint where neither can work.

    sample pass (one ffmpeg, ~40 frames): per region the mark's mask (gradient median),
        its matte (colour and opacity, `matting`) and whether the picture moves under it
    stream pass: decoder --raw yuv420p--> bounded window of frames --> per region:
        recover  -> invert the blend on the mark's pixels (`matting.recover`)
        fill     -> pixels from frames that show them (`temporal_fill.TemporalFiller`)
        inpaint  -> OpenCV TELEA on the mark's pixels
    --> encoder ffmpeg --> remux with the source's audio

Frames are yuv420p planes throughout: the blend J = aW + (1 - a)I is affine, so it inverts in
YUV just as in RGB, in full colour. Pixels outside a mark's mask are never written.
"""

from __future__ import annotations

import queue
import subprocess
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from mediacraft.shared.media import FfmpegProcess, InvalidMedia, LocalResourceError, ProbeResult, run_ffmpeg
from mediacraft.shared.worker.contract import JobCancelledError
from mediacraft.worker_watermark.bounds import RunBounds
from mediacraft.worker_watermark.detect import mark_mask, moving_share
from mediacraft.worker_watermark.encoder import EncoderSettings
from mediacraft.worker_watermark.inpaint import decoder_args, encoder_args, remux_args
from mediacraft.worker_watermark.matting import Matte, estimate_matte, recover
from mediacraft.worker_watermark.regions import Region
from mediacraft.worker_watermark.temporal_fill import TemporalFiller
from mediacraft.worker_watermark.windows import frame_bytes, plane_shapes

RECOVER, FILL, INPAINT = "recover", "fill", "inpaint"
SAMPLES = 40
WINDOW = 24  # frames of look-ahead (and as many behind) the fill keeps in memory
_OPAQUE = 0.85  # a mark whose opacity reaches this over most of it hides what is under it
_FALLBACK_RATE = Fraction(25)

Plane = npt.NDArray[np.uint8]


@dataclass
class RegionPlan:
    """What auto does in one region."""

    region: Region
    box: Region  # the working box: the region with a margin, inside the frame, even-aligned
    mask: Plane  # 255 on the mark's pixels, box-sized
    chose: str
    matte: Matte | None = None
    opacity: float = 0.0
    reason: str = ""

    def info(self) -> dict[str, Any]:
        return {
            "box": self.region.as_list(),
            "chose": self.chose,
            "opacity": round(self.opacity, 2),
            "reason": self.reason,
        }


@dataclass
class _Frame:
    planes: tuple[Plane, Plane, Plane]
    raw: npt.NDArray[np.uint8] = field(repr=False)


def _split(raw: npt.NDArray[np.uint8], width: int, height: int) -> tuple[Plane, Plane, Plane]:
    (rows, cols), chroma, _ = plane_shapes(width, height)  # chroma rounds up on odd sizes
    ys = rows * cols
    cs = chroma[0] * chroma[1]
    y = raw[:ys].reshape(rows, cols)
    u = raw[ys : ys + cs].reshape(chroma)
    v = raw[ys + cs : ys + 2 * cs].reshape(chroma)
    return y, u, v


def working_box(region: Region, width: int, height: int, margin: int = 4) -> Region:
    x0 = max(0, (region.x - margin) // 2 * 2)
    y0 = max(0, (region.y - margin) // 2 * 2)
    x1 = min(width - width % 2, (region.right + margin + 1) // 2 * 2)
    y1 = min(height - height % 2, (region.bottom + margin + 1) // 2 * 2)
    return Region(x0, y0, x1 - x0, y1 - y0)


def sample_crops(
    source: ProbeResult,
    boxes: Sequence[Region],
    bounds: RunBounds,
    cancel: threading.Event,
    samples: int = SAMPLES,
) -> list[list[tuple[Plane, Plane, Plane]]]:
    """Per box, up to `samples` yuv crops spread over the video (one ffmpeg pass, frames one at a time)."""
    video = source.main_video
    width, height = source.media.width or 0, source.media.height or 0
    assert video is not None
    duration = source.media.duration or 0.0
    rate = samples / duration if duration > 0 else 1.0
    args = [
        "-threads",
        "2",
        *source.input_args(limits=bounds.media),
        "-map",
        f"0:{video.index}",
        "-vf",
        f"fps={rate:.6f},scale=w={width}:h={height},format=yuv420p",
        "-frames:v",
        str(samples + 2),
        "-f",
        "rawvideo",
        "pipe:1",
    ]
    size = frame_bytes(width, height)
    crops: list[list[tuple[Plane, Plane, Plane]]] = [[] for _ in boxes]
    with FfmpegProcess(
        args, stdout=subprocess.PIPE, cancel_event=cancel, timeout=bounds.timeout, memory_limit=bounds.memory_limit
    ) as proc:
        assert proc.stdout is not None
        while True:
            data = proc.stdout.read(size)
            if len(data) < size:
                break
            y, u, v = _split(np.frombuffer(data, np.uint8), width, height)
            for i, b in enumerate(boxes):
                cy, cx, ch, cw = b.y // 2, b.x // 2, b.h // 2, b.w // 2
                crops[i].append(
                    (
                        y[b.y : b.bottom, b.x : b.right].copy(),
                        u[cy : cy + ch, cx : cx + cw].copy(),
                        v[cy : cy + ch, cx : cx + cw].copy(),
                    )
                )
    return crops


def plan_region(region: Region, box: Region, crops: list[tuple[Plane, Plane, Plane]], frame_moves: bool) -> RegionPlan:
    """Decide recover / fill / inpaint for one region from its sampled crops."""
    full = np.full((box.h, box.w), 255, np.uint8)
    inside = np.zeros((box.h, box.w), np.uint8)
    inside[region.y - box.y : region.bottom - box.y, region.x - box.x : region.right - box.x] = 255
    if len(crops) < 4 or not frame_moves:
        return RegionPlan(region, box, inside, INPAINT, reason="the picture does not move")
    grey = [c[0] for c in crops]
    edges, _ = mark_mask(grey)
    edges &= inside
    if edges.sum() == 0:
        return RegionPlan(region, box, inside, INPAINT, reason="no mark seen in the box")
    matte = estimate_matte(crops, edges)
    mask = matte.mask & inside
    cover = matte.alpha[mask > 0]
    opacity = float(np.percentile(cover, 75)) if cover.size else 1.0
    if opacity < _OPAQUE and matte.reliable:
        # translucent: pixels that other frames show are taken from them (exact where the camera's
        # motion fits); the blend's inversion covers the rest, pixel by pixel
        # the mask from edges misses faint parts of a stroke: the fill takes the whole box
        return RegionPlan(region, box, inside, FILL, matte, opacity, "translucent mark over moving content")
    # opaque: fill the whole region, the mark's solid pixels as well as its outline
    del full
    return RegionPlan(region, box, inside, FILL, matte, opacity, "opaque mark over moving content")


def auto_video(
    source: ProbeResult,
    regions: Sequence[Region],
    output: Path,
    *,
    bounds: RunBounds,
    encoder: EncoderSettings = EncoderSettings(),
    cancel_event: threading.Event | None = None,
    on_frames: Callable[[int], None] = lambda done: None,
    window: int = WINDOW,
) -> tuple[int, list[dict[str, Any]]]:
    """Clean `regions` of `source` into the MP4 `output`; return (frames written, the choices per region)."""
    video = source.main_video
    width, height = source.media.width or 0, source.media.height or 0
    if video is None or not width or not height:
        raise InvalidMedia("the file has no video stream")
    cancel = cancel_event or threading.Event()
    boxes = [working_box(r, width, height) for r in regions]
    crops = sample_crops(source, boxes, bounds, cancel)
    grey_whole = [c[0] for c in crops[0]] if crops else []
    moves = len(grey_whole) >= 4 and moving_share(grey_whole) > 0.08
    plans = [plan_region(r, b, c, moves) for r, b, c in zip(regions, boxes, crops, strict=True)]
    del crops
    fills = [p for p in plans if p.chose == FILL]
    filler = (
        TemporalFiller(width, height, [(p.box, p.mask, p.chose == FILL and p.opacity < _OPAQUE) for p in fills])
        if fills
        else None
    )
    rate = video.avg_frame_rate or video.frame_rate or _FALLBACK_RATE
    video_only = output.with_name(f"{output.stem}.video.mp4")
    common: dict[str, Any] = {
        "cancel_event": cancel,
        "timeout": bounds.timeout,
        "grace": bounds.grace,
        "memory_limit": bounds.memory_limit,
    }
    decoder = FfmpegProcess(decoder_args(source, bounds.media, width, height, rate), stdout=subprocess.PIPE, **common)
    enc = FfmpegProcess(
        encoder_args(source, width, height, rate, video_only, encoder),
        stdin=subprocess.PIPE,
        outputs=[video_only],
        max_output_bytes=bounds.max_output_bytes,
        **common,
    )
    size = frame_bytes(width, height)
    lag = window if filler is not None else 0
    frames = 0
    try:
        with decoder, enc:
            assert decoder.stdout is not None and enc.stdin is not None
            writer = _Writer(enc.stdin)
            try:
                pending: deque[npt.NDArray[np.uint8]] = deque()
                eof = False
                while not eof or pending:
                    if cancel.is_set():
                        raise JobCancelledError("the job was cancelled")
                    if not eof:
                        data = decoder.stdout.read(size)
                        if len(data) < size:
                            eof = True
                        else:
                            raw = np.frombuffer(data, np.uint8).copy()
                            planes = _split(raw, width, height)
                            for p in plans:
                                if p.matte is not None and p.opacity < _OPAQUE and p.matte.reliable:
                                    recover(planes, p.box, p.mask, p.matte)
                                elif p.chose == INPAINT:
                                    _inpaint(planes, p.box, p.mask)
                            if filler is not None:
                                filler.push(planes)
                            pending.append(raw)
                    if pending and (eof or len(pending) > lag):
                        raw = pending.popleft()
                        if filler is not None:
                            filler.fill_next(_split(raw, width, height))
                        writer.put(raw)
                        frames += 1
                        on_frames(frames)
            except BaseException:
                writer.abandon()
                raise
            writer.close()
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
    except BrokenPipeError as exc:
        output.unlink(missing_ok=True)
        raise LocalResourceError("the encoder stopped before the last frame") from exc
    except BaseException:
        output.unlink(missing_ok=True)
        raise
    finally:
        video_only.unlink(missing_ok=True)
    info = [p.info() for p in plans]
    if filler is not None:
        for p, stats in zip(fills, filler.stats(), strict=True):
            p_info = next(i for i in info if i["box"] == p.region.as_list())
            p_info.update(stats)
    return frames, info


def _inpaint(planes: tuple[Plane, Plane, Plane], box: Region, mask: Plane) -> None:
    for k, plane in enumerate(planes):
        s = 1 if k == 0 else 2
        view = plane[box.y // s : box.y // s + box.h // s, box.x // s : box.x // s + box.w // s]
        m = (
            mask
            if s == 1
            else cv2.resize(mask, (box.w // 2, box.h // 2), interpolation=cv2.INTER_MAX if False else cv2.INTER_NEAREST)
        )
        m = cv2.dilate(m, np.ones((3, 3), np.uint8))
        view[...] = cv2.inpaint(view, m, 3, cv2.INPAINT_TELEA)


class _Writer:
    """Hands frames to the encoder's pipe from its own thread, so that decoding, cleaning and
    encoding overlap (pipe writes release the GIL); a short queue bounds the frames in flight."""

    def __init__(self, pipe: Any, depth: int = 3) -> None:
        self._pipe = pipe
        self._queue: queue.Queue[npt.NDArray[np.uint8] | None] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="auto-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (frame := self._queue.get()) is not None:
            if self._error is not None:
                continue
            try:
                self._pipe.write(frame.data)
            except BaseException as exc:  # the encoder died; the caller re-raises
                self._error = exc

    def put(self, frame: npt.NDArray[np.uint8]) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(frame)

    def abandon(self) -> None:
        """Stop the thread without waiting for the encoder (on failure or cancel)."""
        self._error = self._error or JobCancelledError("abandoned")
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._queue.put(None)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()
        if self._error is not None:
            raise self._error
        self._pipe.close()
