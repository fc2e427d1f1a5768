"""Watermark regions as the worker applies them: boxes kept just inside the frame; pure.

A region is `[x, y, w, h]` in the pixel space of the decoded source frame (the frame a user
picked the regions on; `MediaInfo.width`/`height`). What a region may be, and the clipping of one
that partly leaves the frame, is the shared contract (`mediacraft.shared.watermark`), the same the
gateway ran at submit. Here every clipped box is then kept at least `EDGE_MARGIN` pixels inside
the frame, because ffmpeg's `delogo` refuses a box that touches an edge (it interpolates from the
pixels around the box), and the inpaint method shares the same boxes so that both methods clean
the same area.
"""

from __future__ import annotations

from dataclasses import dataclass

from mediacraft.shared.watermark import InvalidRegions, WatermarkConfig

EDGE_MARGIN = 1


@dataclass(frozen=True, order=True)
class Region:
    """A box in frame pixels: columns x..x+w-1, rows y..y+h-1."""

    x: int
    y: int
    w: int
    h: int

    @property
    def right(self) -> int:
        """One past the last column."""
        return self.x + self.w

    @property
    def bottom(self) -> int:
        """One past the last row."""
        return self.y + self.h

    def as_list(self) -> list[int]:
        """The `[x, y, w, h]` form clients use."""
        return [self.x, self.y, self.w, self.h]


def frame_regions(config: WatermarkConfig, width: int, height: int) -> tuple[Region, ...]:
    """The config's regions fitted to a `width` x `height` frame, kept `EDGE_MARGIN` px inside, once each.

    Raises the shared contract's InvalidRegions for a region that misses the frame, or a frame too
    small to hold any box away from its edges.
    """
    if width < 2 * EDGE_MARGIN + 1 or height < 2 * EDGE_MARGIN + 1:
        raise InvalidRegions(f"the video frame ({width}x{height}) is too small to clean", width=width, height=height)
    regions: list[Region] = []
    for box in config.fit_to_frame(width, height).regions or ():  # none: left to detection
        region = keep_inside(Region(*box), width, height)
        if region not in regions:
            regions.append(region)
    return tuple(regions)


def keep_inside(region: Region, width: int, height: int) -> Region:
    """A box of the frame moved off its outermost lines: `EDGE_MARGIN` px inside, at least 1 px left."""
    x0, x1 = _inside(region.x, region.right, width)
    y0, y1 = _inside(region.y, region.bottom, height)
    return Region(x0, y0, x1 - x0, y1 - y0)


def _inside(start: int, end: int, size: int) -> tuple[int, int]:
    """Pull the span [start, end) into [EDGE_MARGIN, size - EDGE_MARGIN), keeping at least 1 px."""
    low, high = EDGE_MARGIN, size - EDGE_MARGIN
    start, end = max(start, low), min(end, high)
    if end <= start:
        # The box sat on the outermost line only: keep the nearest line delogo accepts.
        start = min(max(start, low), high - 1)
        end = start + 1
    return start, end
