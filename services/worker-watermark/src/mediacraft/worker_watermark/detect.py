"""Find watermarks by themselves: what stays put on the screen while the picture under it changes.

One ffmpeg pass samples a few dozen frames spread over the whole video, scaled down to about
360 lines (a grey plane is all the statistic needs). Per pixel, the median of the image
gradients over the samples (Dekel et al., "On the Effectiveness of Visible Watermarks", CVPR
2017) keeps the edges that are there in every frame, a watermark's, and cancels the moving
content's. Where that median is strong and consistent with the mean gradient magnitude, the
pixel belongs to a mark; a morphological closing joins the strokes, connected components become
regions with a confidence and a mask, mapped back to source pixels.

When the picture does not move, every edge is consistent and the statistic says nothing: the
answer is "cannot_tell" with a plain message instead of a guess.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
import numpy.typing as npt

from mediacraft.shared.media import FfmpegProcess, MediaLimits, ProbeResult, probe_media

SAMPLES = 40
STAT_HEIGHT = 360
_MOVING_LEVEL = 6.0  # grey levels of temporal spread for a pixel to count as moving
_MOVING_SHARE = 0.08  # of the frame that must move for the statistic to mean something
_MIN_AREA_SHARE = 0.0004  # of the frame: smaller components are noise
_MAX_AREA_SHARE = 0.25  # of the frame: larger ones are a static part of the picture, not a mark
_MIN_CONFIDENCE = 0.65
_STILL_LEVEL = 10  # grey levels: a pixel that never moves more than this is part of an opaque mark

State = Literal["done", "nothing_found", "cannot_tell"]
Gray = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class DetectedRegion:
    box: tuple[int, int, int, int]  # x, y, w, h in source pixels
    confidence: float  # 0..1
    mask_png: bytes | None = None  # 8-bit PNG of the mark's mask inside the box

    def mask(self) -> Gray | None:
        """The mask as an array of the box's size (255 where the mark is), when there is one."""
        if self.mask_png is None:
            return None
        decoded = cv2.imdecode(np.frombuffer(self.mask_png, np.uint8), cv2.IMREAD_GRAYSCALE)
        return None if decoded is None else np.asarray(decoded, np.uint8)


@dataclass(frozen=True)
class Detection:
    state: State
    regions: tuple[DetectedRegion, ...] = field(default_factory=tuple)
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "regions": [{"box": list(r.box), "confidence": round(r.confidence, 3)} for r in self.regions],
            "message": self.message,
        }


def detect_watermarks(
    path: Path,
    *,
    cancel: threading.Event | None = None,
    progress: Callable[[float], None] | None = None,
    limits: MediaLimits | None = None,
    samples: int = SAMPLES,
) -> Detection:
    """Blocking (CPU); callers run it in a thread. Reads the video at `path` with one ffmpeg."""
    source = probe_media(path, limits or MediaLimits(), expect="video")
    frames, scale = sample_gray(source, samples=samples, height=STAT_HEIGHT, cancel=cancel, progress=progress)
    return detect_in_frames(frames, scale, source.media.width or 0, source.media.height or 0)


def sample_gray(
    source: ProbeResult,
    *,
    samples: int,
    height: int,
    cancel: threading.Event | None = None,
    progress: Callable[[float], None] | None = None,
    limits: MediaLimits | None = None,
) -> tuple[list[Gray], float]:
    """Up to `samples` grey frames spread over the video, `height` lines high; and the scale used."""
    width0, height0 = source.media.width or 0, source.media.height or 0
    video = source.main_video
    if video is None or not width0 or not height0:
        return [], 1.0
    scale = min(1.0, height / height0)
    w = max(2, round(width0 * scale / 2) * 2)
    h = max(2, round(height0 * scale / 2) * 2)
    duration = source.media.duration or 0.0
    rate = samples / duration if duration > 0 else 1.0
    args = [
        "-threads",
        "2",
        *source.input_args(limits=limits),
        "-map",
        f"0:{video.index}",
        "-vf",
        f"fps={rate:.6f},scale=w={w}:h={h}:flags=area,format=gray",
        "-frames:v",
        str(samples + 2),
        "-f",
        "rawvideo",
        "pipe:1",
    ]
    frames: list[Gray] = []
    size = w * h
    with FfmpegProcess(args, stdout=subprocess.PIPE, cancel_event=cancel, timeout=600.0) as proc:
        assert proc.stdout is not None
        while True:
            data = proc.stdout.read(size)
            if len(data) < size:
                break
            frames.append(np.frombuffer(data, np.uint8).reshape(h, w))
            if progress is not None:
                progress(min(1.0, len(frames) / samples))
    return frames, w / width0


def gradient_median(frames: list[Gray]) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """(|median gradient|, mean |gradient|) per pixel over `frames`."""
    gx = np.empty((len(frames), *frames[0].shape), np.float32)
    gy = np.empty_like(gx)
    for i, frame in enumerate(frames):
        gx[i] = cv2.Sobel(frame, cv2.CV_32F, 1, 0, ksize=3)
        gy[i] = cv2.Sobel(frame, cv2.CV_32F, 0, 1, ksize=3)
    mx, my = np.median(gx, axis=0), np.median(gy, axis=0)
    strength = np.sqrt(mx * mx + my * my).astype(np.float32)
    mean_mag = np.mean(np.sqrt(gx * gx + gy * gy), axis=0).astype(np.float32)
    return strength, mean_mag


def moving_share(frames: list[Gray]) -> float:
    """The share of pixels whose value spreads over more than a few grey levels across `frames`."""
    stack = np.stack(frames).astype(np.float32)
    spread = np.percentile(stack, 90, axis=0) - np.percentile(stack, 10, axis=0)
    return float(np.mean(spread > _MOVING_LEVEL))


def mark_mask(frames: list[Gray]) -> tuple[Gray, npt.NDArray[np.float32]]:
    """The binary edge map of what stays put (255) and its per-pixel consistency (0..1)."""
    strength, mean_mag = gradient_median(frames)
    consistency = strength / (mean_mag + 1e-3)
    threshold = max(12.0, 0.2 * float(np.percentile(strength, 99.9)))
    edges = ((strength > threshold) & (consistency > 0.5)).astype(np.uint8) * 255
    return edges, consistency


def detect_in_frames(frames: list[Gray], scale: float, width: int, height: int) -> Detection:
    """The detection on grey samples taken at `scale` of a `width` x `height` source."""
    if len(frames) < 4:
        return Detection("cannot_tell", (), "The video is too short to tell a watermark from the picture.")
    if moving_share(frames) < _MOVING_SHARE:
        return Detection(
            "cannot_tell",
            (),
            "The picture does not move, so a watermark cannot be told apart from it; draw the boxes by hand.",
        )
    edges, consistency = mark_mask(frames)
    # an opaque mark's outline flips polarity with the picture under it, but it never changes
    stack = np.stack(frames)
    spread = (stack.max(axis=0).astype(np.int16) - stack.min(axis=0)).astype(np.float32)
    still = (spread <= _STILL_LEVEL).astype(np.uint8) * 255
    still = cv2.morphologyEx(still, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    edges = np.maximum(edges, np.asarray(still, np.uint8))
    consistency = np.where(still > 0, 1.0, consistency).astype(np.float32)
    h, w = edges.shape
    edges[:3], edges[-3:], edges[:, :3], edges[:, -3:] = 0, 0, 0, 0  # the frame's border is no mark
    edges = np.asarray(cv2.morphologyEx(edges, cv2.MORPH_OPEN, np.ones((2, 2), np.uint8)), np.uint8)
    # strokes of one mark (letters, words, an outline and its inside) join into one group
    gap = max(5, round(h / 24) | 1)
    groups = cv2.dilate(edges, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (gap, gap)))
    count, labels, _stats, _ = cv2.connectedComponentsWithStats(groups, connectivity=8)
    regions: list[DetectedRegion] = []
    for label in range(1, count):
        member = (labels == label) & (edges > 0)
        ys, xs = np.nonzero(member)
        if len(xs) < 12:
            continue
        x, y = int(xs.min()), int(ys.min())
        bw, bh = int(xs.max()) - x + 1, int(ys.max()) - y + 1
        if bw * bh < _MIN_AREA_SHARE * h * w or bw * bh > _MAX_AREA_SHARE * h * w:
            continue
        confidence = float(np.clip(np.mean(consistency[member]), 0.0, 1.0))
        if confidence < _MIN_CONFIDENCE:
            continue
        inside = _filled(member[y : y + bh, x : x + bw])
        # back to source pixels; half a sample pixel of margin for the blur of the scaling
        x0 = max(0, int(np.floor((x - 0.5) / scale)))
        y0 = max(0, int(np.floor((y - 0.5) / scale)))
        x1 = min(width, int(np.ceil((x + bw + 0.5) / scale)))
        y1 = min(height, int(np.ceil((y + bh + 0.5) / scale)))
        small = (inside * 255).astype(np.uint8)
        full = cv2.resize(small, (x1 - x0, y1 - y0), interpolation=cv2.INTER_NEAREST)
        ok, png = cv2.imencode(".png", full)
        regions.append(DetectedRegion((x0, y0, x1 - x0, y1 - y0), confidence, png.tobytes() if ok else None))
    regions.sort(key=lambda r: -r.confidence)
    if not regions:
        return Detection("nothing_found", (), "No watermark found.")
    noun = "watermark" if len(regions) == 1 else "watermarks"
    return Detection("done", tuple(regions[:32]), f"Found {len(regions)} {noun}.")


def _filled(member: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """The strokes closed and their holes filled: the mark's whole area."""
    closed = cv2.morphologyEx(member.astype(np.uint8) * 255, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    padded = cv2.copyMakeBorder(closed, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    flood = padded.copy()
    cv2.floodFill(flood, None, (0, 0), 255)
    holes = cv2.bitwise_not(flood)[1:-1, 1:-1]
    return np.asarray((np.asarray(closed) > 0) | (np.asarray(holes) > 0))
