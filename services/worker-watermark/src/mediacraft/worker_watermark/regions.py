"""Watermark regions: parse what the client sent and fit it to the frame; pure.

A region is `[x, y, w, h]` in the pixel space of the decoded source frame (the frame a user
picked the regions on; `MediaInfo.width`/`height`). Numbers may be floats (a client that scaled a
preview): the box is widened to whole pixels so that nothing the user marked is left out.

A region that only partly leaves the frame is clipped to it; then every box is kept at least
`EDGE_MARGIN` pixels inside the frame, because ffmpeg's `delogo` refuses a box that touches an edge
(it interpolates from the pixels around the box), and the inpaint method shares the same boxes so
that both methods clean the same area. A region entirely outside the frame, with a size that is
not positive, or beyond `MAX_REGIONS`, is a mistake the user must fix: `InvalidRegions`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from mediacraft.shared.errors import InvalidInput

MAX_REGIONS = 32  # as many as the gateway accepts
EDGE_MARGIN = 1
# Larger than any frame the media limits admit, so a crafted number cannot overflow arithmetic.
_MAX_COORDINATE = 1_000_000


class InvalidRegions(InvalidInput):
    """The regions cannot be applied to this video."""

    code = "invalid_regions"


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


def parse_regions(raw: Any, width: int, height: int, *, max_regions: int = MAX_REGIONS) -> tuple[Region, ...]:
    """Validate `raw` regions against a `width` x `height` frame; return them clamped and de-duplicated."""
    if not isinstance(raw, (list, tuple)) or not raw:
        raise InvalidRegions("choose at least one region to clean, as [[x, y, w, h], ...]")
    if len(raw) > max_regions:
        raise InvalidRegions(f"at most {max_regions} regions can be cleaned at once; got {len(raw)}")
    if width < 2 * EDGE_MARGIN + 1 or height < 2 * EDGE_MARGIN + 1:
        raise InvalidRegions(f"the video frame ({width}x{height}) is too small to clean")
    regions: list[Region] = []
    for number, item in enumerate(raw, start=1):
        region = clamp_region(_parse_one(item, number), width, height)
        if region is None:
            raise InvalidRegions(
                f"region {number} lies outside the {width}x{height} frame; pick it on a frame of this video"
            )
        if region not in regions:
            regions.append(region)
    return tuple(regions)


def clamp_region(region: Region, width: int, height: int) -> Region | None:
    """Clip `region` to the frame and keep it `EDGE_MARGIN` px inside; None when it misses the frame."""
    x0, y0 = max(region.x, 0), max(region.y, 0)
    x1, y1 = min(region.right, width), min(region.bottom, height)
    if x1 <= x0 or y1 <= y0:
        return None
    x0, x1 = _inside(x0, x1, width)
    y0, y1 = _inside(y0, y1, height)
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


def _parse_one(item: Any, number: int) -> Region:
    if not isinstance(item, (list, tuple)) or len(item) != 4:
        raise InvalidRegions(f"region {number} must be [x, y, w, h]")
    values = [_number(v, number) for v in item]
    x, y, w, h = values
    if w <= 0 or h <= 0:
        raise InvalidRegions(f"region {number} must have a positive width and height")
    # Widen fractional boxes outwards to whole pixels.
    x0, y0 = math.floor(x), math.floor(y)
    x1, y1 = math.ceil(x + w), math.ceil(y + h)
    return Region(x0, y0, x1 - x0, y1 - y0)


def _number(value: Any, number: int) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidRegions(f"region {number} must hold numbers")
    if not math.isfinite(value) or abs(value) > _MAX_COORDINATE:
        raise InvalidRegions(f"region {number} holds a number out of range")
    return float(value)
