"""Regions as the worker applies them: fitted to the frame by the shared contract, kept off its edges."""

from __future__ import annotations

import pytest

from mediacraft.shared.watermark import InvalidRegions, parse_watermark_config
from mediacraft.worker_watermark.regions import EDGE_MARGIN, Region, frame_regions, keep_inside

W, H = 1280, 720


def regions_of(*boxes: list[int], width: int = W, height: int = H) -> tuple[Region, ...]:
    return frame_regions(parse_watermark_config({"regions": [list(b) for b in boxes]}), width, height)


def test_regions_inside_the_frame_are_kept_as_they_are() -> None:
    assert regions_of([900, 40, 300, 90], [10, 600, 50, 20]) == (
        Region(900, 40, 300, 90),
        Region(10, 600, 50, 20),
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ([0, 0, 100, 50], Region(1, 1, 99, 49)),  # touching the top-left corner
        ([1180, 670, 100, 50], Region(1180, 670, 99, 49)),  # touching the bottom-right corner
        ([-40, -10, 100, 50], Region(1, 1, 59, 39)),  # partly outside top-left
        ([1200, 700, 500, 500], Region(1200, 700, 79, 19)),  # partly outside bottom-right
        ([-10, -10, 2000, 2000], Region(1, 1, W - 2, H - 2)),  # larger than the frame
    ],
)
def test_regions_at_or_over_the_edge_are_clamped_one_pixel_inside(raw: list[int], expected: Region) -> None:
    (region,) = regions_of(raw)
    assert region == expected
    assert region.x >= EDGE_MARGIN and region.y >= EDGE_MARGIN
    assert region.right <= W - EDGE_MARGIN and region.bottom <= H - EDGE_MARGIN


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ([0, 100, 1, 10], Region(1, 100, 1, 10)),  # only the first column
        ([W - 1, 100, 1, 10], Region(W - 2, 100, 1, 10)),  # only the last column
        ([100, H - 1, 10, 5], Region(100, H - 2, 10, 1)),  # only the last row, partly beyond
    ],
)
def test_a_region_on_the_outermost_line_keeps_the_nearest_line_inside(raw: list[int], expected: Region) -> None:
    assert regions_of(raw) == (expected,)


@pytest.mark.parametrize(
    "raw",
    [
        [W, 0, 10, 10],  # right of the frame
        [0, H + 5, 10, 10],  # below it
        [-50, 10, 50, 10],  # ends exactly where the frame starts
        [10, -30, 10, 20],  # above it
    ],
)
def test_a_region_entirely_outside_the_frame_is_refused_as_the_gateway_does(raw: list[int]) -> None:
    with pytest.raises(InvalidRegions) as caught:
        regions_of([10, 10, 20, 20], raw)
    assert caught.value.code == "invalid_regions"
    assert f"Region {raw} is outside the {W}x{H} frame" == caught.value.message
    assert caught.value.data == {"frame": {"width": W, "height": H}}


def test_duplicate_regions_are_cleaned_once() -> None:
    assert regions_of([5, 5, 10, 10], [5, 5, 10, 10], [0, 0, 15, 15]) == (
        Region(5, 5, 10, 10),
        Region(1, 1, 14, 14),
    )


def test_a_frame_too_small_for_any_region_is_refused() -> None:
    with pytest.raises(InvalidRegions, match="too small"):
        regions_of([0, 0, 2, 2], width=2, height=2)
    assert regions_of([0, 0, 3, 3], width=3, height=3) == (Region(1, 1, 1, 1),)


def test_keep_inside_moves_a_box_off_the_outermost_lines_only() -> None:
    assert keep_inside(Region(0, 0, 5, 5), W, H) == Region(1, 1, 4, 4)
    assert keep_inside(Region(2, 2, 5, 5), W, H) == Region(2, 2, 5, 5)


def test_region_as_list_is_the_client_form() -> None:
    region = Region(1, 2, 3, 4)
    assert region.as_list() == [1, 2, 3, 4]
    assert (region.right, region.bottom) == (4, 6)
