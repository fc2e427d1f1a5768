"""Regions as a client sends them: validated against the frame, clamped inside it, or refused."""

from __future__ import annotations

import pytest

from mediacraft.worker_watermark.regions import (
    EDGE_MARGIN,
    MAX_REGIONS,
    InvalidRegions,
    Region,
    clamp_region,
    parse_regions,
)

W, H = 1280, 720


def test_regions_inside_the_frame_are_kept_as_they_are() -> None:
    assert parse_regions([[900, 40, 300, 90], [10, 600, 50, 20]], W, H) == (
        Region(900, 40, 300, 90), Region(10, 600, 50, 20),
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
    (region,) = parse_regions([raw], W, H)
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
    assert parse_regions([raw], W, H) == (expected,)


@pytest.mark.parametrize(
    "raw",
    [
        [W, 0, 10, 10],  # right of the frame
        [0, H + 5, 10, 10],  # below it
        [-50, 10, 50, 10],  # ends exactly where the frame starts
        [10, -30, 10, 20],  # above it
    ],
)
def test_a_region_entirely_outside_the_frame_is_refused(raw: list[int]) -> None:
    with pytest.raises(InvalidRegions) as caught:
        parse_regions([[10, 10, 20, 20], raw], W, H)
    assert caught.value.code == "invalid_regions"
    assert "region 2" in caught.value.message and f"{W}x{H}" in caught.value.message


@pytest.mark.parametrize("raw", [[10, 10, 0, 20], [10, 10, 20, 0], [10, 10, -5, 20], [10, 10, 20, -1]])
def test_a_region_without_a_positive_size_is_refused(raw: list[int]) -> None:
    with pytest.raises(InvalidRegions, match="positive width and height"):
        parse_regions([raw], W, H)


def test_too_many_regions_are_refused() -> None:
    many = [[10 + 20 * n, 10, 10, 10] for n in range(MAX_REGIONS + 1)]
    assert len(parse_regions(many[:-1], W, H)) == MAX_REGIONS
    with pytest.raises(InvalidRegions, match=f"at most {MAX_REGIONS} regions"):
        parse_regions(many, W, H)
    raw = [[10 + 20 * n, 10, 10, 10] for n in range(5)]
    assert len(parse_regions(raw, W, H, max_regions=5)) == 5
    with pytest.raises(InvalidRegions, match="at most 4 regions"):
        parse_regions(raw, W, H, max_regions=4)


@pytest.mark.parametrize(
    "raw",
    [None, [], "10,10,20,20", {"x": 1}, [[1, 2, 3]], [[1, 2, 3, 4, 5]], [[1, "2", 3, 4]],
     [[True, 2, 3, 4]], [[float("nan"), 2, 3, 4]], [[1, 2, float("inf"), 4]], [[1e12, 2, 3, 4]], [7]],
)
def test_malformed_regions_are_refused_with_the_same_code(raw: object) -> None:
    with pytest.raises(InvalidRegions) as caught:
        parse_regions(raw, W, H)
    assert caught.value.code == "invalid_regions"


def test_fractional_regions_widen_to_cover_every_marked_pixel() -> None:
    assert parse_regions([[10.6, 20.2, 30.1, 10.5]], W, H) == (Region(10, 20, 31, 11),)


def test_duplicate_regions_are_cleaned_once() -> None:
    assert parse_regions([[5, 5, 10, 10], (5, 5, 10, 10), [0, 0, 15, 15]], W, H) == (
        Region(5, 5, 10, 10), Region(1, 1, 14, 14),
    )


def test_a_frame_too_small_for_any_region_is_refused() -> None:
    with pytest.raises(InvalidRegions, match="too small"):
        parse_regions([[0, 0, 2, 2]], 2, 2)
    assert parse_regions([[0, 0, 3, 3]], 3, 3) == (Region(1, 1, 1, 1),)


def test_clamp_region_reports_a_miss_as_none() -> None:
    assert clamp_region(Region(W, 0, 5, 5), W, H) is None
    assert clamp_region(Region(2, 2, 5, 5), W, H) == Region(2, 2, 5, 5)


def test_region_as_list_is_the_client_form() -> None:
    region = Region(1, 2, 3, 4)
    assert region.as_list() == [1, 2, 3, 4]
    assert (region.right, region.bottom) == (4, 6)
