"""Fill opaque marks from other frames: what the mark hides now, the camera shows before or after.

Motion is measured outside the marks only: corners tracked with pyramidal Lucas-Kanade between
consecutive frames (on a grey plane scaled to about 360 lines), and the camera's global motion
fitted to them as a similarity (translation, rotation, zoom) with RANSAC. The fits chain into
one transform per frame to a common reference, so that any two frames of the window map onto
each other, near or far: under a slow pan a pixel hidden for a second is still found.

Each hidden pixel of frame t takes its value from the nearest frame (after or before) that shows
it, i.e. where the pixel maps inside the picture and outside the mark; pixels that no frame of
the window shows take the previous frame's filled value moved along the motion (which keeps them
still, no flicker), and spatial inpainting only where even that is missing. A failed fit (a cut)
breaks the chain: frames across it are never used for each other.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
import numpy.typing as npt

from mediacraft.worker_watermark.regions import Region

Plane = npt.NDArray[np.uint8]
Planes = tuple[Plane, Plane, Plane]
Mat = npt.NDArray[np.float64]
MOTION_HEIGHT = 360
_MIN_INLIERS = 12


@dataclass
class _Entry:
    planes: Planes
    to_ref: Mat  # frame coordinates -> reference coordinates (3x3)
    segment: int
    filled: bool = False


@dataclass
class _Stats:
    from_frames: int = 0
    from_previous: int = 0
    inpainted: int = 0
    recovered: int = 0
    frames: int = 0


@dataclass
class TemporalFiller:
    """Push frames as they are decoded; fill the oldest not yet filled with `fill_next`."""

    width: int
    height: int
    holes: Sequence[tuple[Region, Plane, bool]]  # box, mask, already recovered
    window: int = 24
    _entries: deque[_Entry] = field(default_factory=deque)
    _pushed: int = 0
    _next: int = 0  # index of the next frame to fill
    _prev_grey: Plane | None = None
    _segment: int = 0
    _stats: list[_Stats] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._scale = min(1.0, MOTION_HEIGHT / self.height)
        self._small = (max(8, int(self.width * self._scale)), max(8, int(self.height * self._scale)))
        hidden = np.zeros((self.height, self.width), np.uint8)
        for box, mask, _ in self.holes:
            hidden[box.y : box.bottom, box.x : box.right] |= mask
        # pixels mapping near a mark are not trusted (the mark's halo, the codec's ringing)
        self._hidden = cv2.dilate(hidden, np.ones((5, 5), np.uint8))
        small = cv2.resize(self._hidden, self._small, interpolation=cv2.INTER_NEAREST)
        self._track_mask = np.where(cv2.dilate(small, np.ones((9, 9), np.uint8)) > 0, 0, 255).astype(np.uint8)
        self._stats = [_Stats() for _ in self.holes]

    def push(self, planes: Planes) -> None:
        grey = np.asarray(cv2.resize(planes[0], self._small, interpolation=cv2.INTER_AREA), np.uint8)
        to_ref = np.eye(3)
        if self._entries and self._prev_grey is not None:
            step = self._motion(grey, self._prev_grey)
            if step is None:
                self._segment += 1
            else:
                to_ref = self._entries[-1].to_ref @ step
        self._prev_grey = grey
        self._entries.append(_Entry(planes, to_ref, self._segment))
        self._pushed += 1
        # keep `window` frames behind the next one to fill
        while len(self._entries) > 0 and self._pushed - len(self._entries) < self._next - self.window:
            self._entries.popleft()

    def _motion(self, grey: Plane, prev: Plane) -> Mat | None:
        """The transform from this frame's coordinates to the previous frame's (source pixels)."""
        points = cv2.goodFeaturesToTrack(grey, 300, 0.01, 7, mask=self._track_mask)
        if points is None or len(points) < _MIN_INLIERS:
            return None
        moved, status, _ = cv2.calcOpticalFlowPyrLK(grey, prev, points, None, winSize=(21, 21), maxLevel=3)
        ok = status.ravel() == 1
        if ok.sum() < _MIN_INLIERS:
            return None
        fit, inliers = cv2.estimateAffinePartial2D(
            points[ok], moved[ok], method=cv2.RANSAC, ransacReprojThreshold=1.0, maxIters=500
        )
        if fit is None or inliers is None or int(inliers.sum()) < _MIN_INLIERS:
            return None
        s = self._scale
        step = np.vstack([fit, [0.0, 0.0, 1.0]])
        scale = np.diag([s, s, 1.0])
        return np.asarray(np.linalg.inv(scale) @ step @ scale, np.float64)

    def fill_next(self, planes: Planes) -> None:
        """Fill the holes of the oldest frame not yet filled (`planes`, the same frame, in place)."""
        first = self._pushed - len(self._entries)
        me = self._entries[self._next - first]
        order: list[int] = []
        for d in range(1, len(self._entries)):
            for k in (self._next + d, self._next - d):
                if first <= k < self._pushed:
                    order.append(k)
        for index, (box, mask, recovered) in enumerate(self.holes):
            self._fill_region(index, box, mask, recovered, me, order, first, planes)
        me.filled = True
        self._next += 1

    def _fill_region(
        self,
        index: int,
        box: Region,
        mask: Plane,
        recovered: bool,
        me: _Entry,
        order: list[int],
        first: int,
        planes: Planes,
    ) -> None:
        stats = self._stats[index]
        stats.frames += 1
        need = mask > 0
        total = int(need.sum())
        ys, xs = np.mgrid[box.y : box.bottom, box.x : box.right].astype(np.float32)
        out_y = planes[0][box.y : box.bottom, box.x : box.right].copy()
        done = np.zeros_like(need)
        picks: list[tuple[_Entry, npt.NDArray[np.float32], npt.NDArray[np.float32], npt.NDArray[np.bool_]]] = []
        for k in order:
            other = self._entries[k - first]
            if other.segment != me.segment:
                continue
            mx, my = _map(np.linalg.inv(other.to_ref) @ me.to_ref, xs, ys)
            hidden = cv2.remap(self._hidden, mx, my, cv2.INTER_NEAREST, borderValue=255)
            seen = (hidden == 0) & need & ~done
            if not seen.any():
                continue
            picks.append((other, mx, my, seen))
            done |= seen
            if done.sum() == total:
                break
        stats.from_frames += int(done.sum())
        rest = need & ~done
        if rest.any() and self._next > first:
            prev = self._entries[self._next - 1 - first]
            if prev.segment == me.segment and prev.filled:
                mx, my = _map(np.linalg.inv(prev.to_ref) @ me.to_ref, xs, ys)
                inside = (mx >= 0) & (my >= 0) & (mx <= self.width - 1) & (my <= self.height - 1)
                use = rest & inside
                if use.any():
                    picks.append((prev, mx, my, use))
                    stats.from_previous += int(use.sum())
                    rest &= ~use
        for other, mx, my, use in picks:
            out_y[use] = cv2.remap(other.planes[0], mx, my, cv2.INTER_LINEAR)[use]
        planes[0][box.y : box.bottom, box.x : box.right][need] = out_y[need]
        half = (box.w // 2, box.h // 2)
        for c in (1, 2):
            view = planes[c][box.y // 2 : box.y // 2 + box.h // 2, box.x // 2 : box.x // 2 + box.w // 2]
            out_c = view.copy()
            need_c = cv2.resize(need.astype(np.uint8), half, interpolation=cv2.INTER_LINEAR) > 0
            for other, mx, my, use in picks:
                use_c = cv2.resize(use.astype(np.uint8), half, interpolation=cv2.INTER_NEAREST) > 0
                cx = cv2.resize(mx, half, interpolation=cv2.INTER_AREA) / 2 - 0.25
                cy = cv2.resize(my, half, interpolation=cv2.INTER_AREA) / 2 - 0.25
                out_c[use_c] = cv2.remap(other.planes[c], cx, cy, cv2.INTER_LINEAR)[use_c]
            view[need_c] = out_c[need_c]
        if rest.any() and recovered:
            stats.recovered += int(rest.sum())
        elif rest.any():
            stats.inpainted += int(rest.sum())
            m = rest.astype(np.uint8) * 255
            y_view = planes[0][box.y : box.bottom, box.x : box.right]
            y_view[...] = cv2.inpaint(y_view, m, 3, cv2.INPAINT_TELEA)
            m_c = cv2.resize(m, half, interpolation=cv2.INTER_LINEAR)
            m_c = np.where(m_c > 0, 255, 0).astype(np.uint8)
            for c in (1, 2):
                view = planes[c][box.y // 2 : box.y // 2 + box.h // 2, box.x // 2 : box.x // 2 + box.w // 2]
                view[...] = cv2.inpaint(view, m_c, 3, cv2.INPAINT_TELEA)

    def stats(self) -> list[dict[str, float]]:
        """Per hole, the shares of its pixels taken from other frames, carried over, and inpainted."""
        out = []
        for s in self._stats:
            total = max(1, s.from_frames + s.from_previous + s.inpainted + s.recovered)
            out.append(
                {
                    "from_other_frames": round(s.from_frames / total, 3),
                    "carried_over": round(s.from_previous / total, 3),
                    "inpainted": round(s.inpainted / total, 3),
                    "recovered": round(s.recovered / total, 3),
                }
            )
        return out


def _map(
    m: Mat, xs: npt.NDArray[np.float32], ys: npt.NDArray[np.float32]
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    mx = (m[0, 0] * xs + m[0, 1] * ys + m[0, 2]).astype(np.float32)
    my = (m[1, 0] * xs + m[1, 1] * ys + m[1, 2]).astype(np.float32)
    return mx, my
