"""Window arithmetic of the inpaint method: which pixels of which plane get filled, and where."""

from __future__ import annotations

import numpy as np

from mediacraft.worker_watermark.regions import Region
from mediacraft.worker_watermark.windows import (
    CONTEXT,
    Box,
    frame_bytes,
    luma_windows,
    mask_boxes,
    merge_windows,
    padding,
    plan_windows,
    plane_radius,
    plane_shapes,
)


def test_plane_shapes_and_frame_bytes_follow_yuv420p_with_chroma_rounded_up() -> None:
    assert plane_shapes(1280, 720) == ((720, 1280), (360, 640), (360, 640))
    assert frame_bytes(1280, 720) == 1280 * 720 * 3 // 2
    assert plane_shapes(321, 241) == ((241, 321), (121, 161), (121, 161))
    assert frame_bytes(321, 241) == 321 * 241 + 2 * 121 * 161


def test_mask_boxes_grow_the_luma_box_and_cover_every_touching_chroma_sample() -> None:
    luma, chroma = mask_boxes(Region(101, 51, 20, 11), 1280, 720, grow=1)
    assert luma == Box(100, 50, 122, 63)
    assert chroma == Box(50, 25, 61, 32)  # columns 100..121 -> 50..60, rows 50..62 -> 25..31
    luma, chroma = mask_boxes(Region(101, 51, 20, 11), 1280, 720, grow=0)
    assert luma == Box(101, 51, 121, 62)
    assert chroma == Box(50, 25, 61, 31)


def test_mask_boxes_stay_inside_the_planes() -> None:
    luma, chroma = mask_boxes(Region(1, 1, 318, 238), 320, 240, grow=3)
    assert luma == Box(0, 0, 320, 240)
    assert chroma == Box(0, 0, 160, 120)


def test_a_window_is_the_mask_padded_by_radius_and_context_with_the_mask_inside() -> None:
    windows = plan_windows([Region(200, 100, 40, 20)], 1280, 720, radius=3, grow=1)
    assert [w.plane for w in windows] == [0, 1, 2]
    pad = padding(3)
    assert pad == 3 + CONTEXT
    y, u, v = windows
    assert y.box == Box(199 - pad, 99 - pad, 241 + pad, 121 + pad)
    assert y.mask.shape == (y.box.height, y.box.width) and y.mask.dtype == np.uint8
    assert y.masked_pixels == 42 * 22
    assert y.mask[pad, pad] == 255 and y.mask[pad - 1, pad - 1] == 0
    cpad = padding(2)  # chroma is inpainted with half the radius, rounded up
    assert (y.radius, u.radius, v.radius) == (3, 2, 2)
    assert u.box == Box(99 - cpad, 49 - cpad, 121 + cpad, 61 + cpad)
    assert u.masked_pixels == 22 * 12 and np.array_equal(u.mask, v.mask)


def test_chroma_uses_half_the_radius_rounded_up() -> None:
    assert [plane_radius(r, 0) for r in (1, 2, 3, 4, 5)] == [1, 2, 3, 4, 5]
    assert [plane_radius(r, 1) for r in (1, 2, 3, 4, 5)] == [1, 1, 2, 2, 3]
    assert plane_radius(5, 2) == 3


def test_windows_are_clipped_at_the_frame_edge() -> None:
    (y, u, _) = plan_windows([Region(1, 1, 10, 10)], 64, 48, radius=5, grow=1)
    assert y.box == Box(0, 0, 12 + padding(5), 12 + padding(5))
    assert y.mask[0, 0] == 255  # the grown mask reaches the edge; no padding is left there
    assert u.box.left == 0 and u.box.top == 0


def test_overlapping_windows_merge_with_both_masks_and_nothing_else() -> None:
    regions = [Region(100, 100, 20, 20), Region(126, 100, 20, 20)]  # 6 px apart: windows overlap
    windows = plan_windows(regions, 640, 480, radius=3, grow=0)
    luma = [w for w in windows if w.plane == 0]
    assert len(luma) == 1
    (window,) = luma
    assert window.box == Box(100 - padding(3), 100 - padding(3), 146 + padding(3), 120 + padding(3))
    assert window.masked_pixels == 2 * 20 * 20
    gap = window.mask[:, 120 - window.box.left : 126 - window.box.left]
    assert not gap.any()  # the pixels between the two logos stay known context


def test_distant_windows_stay_separate() -> None:
    windows = luma_windows([Region(10, 10, 20, 20), Region(300, 200, 20, 20)], 640, 480, radius=3)
    assert len(windows) == 2
    assert not windows[0].overlaps(windows[1])


def test_merging_is_transitive() -> None:
    a, b, c = Box(0, 0, 10, 10), Box(8, 0, 18, 10), Box(16, 0, 26, 10)
    d = Box(100, 100, 110, 110)
    groups = merge_windows([(a, a), (c, c), (d, d), (b, b)])
    assert sorted((g[0].left, g[0].right, len(g[1])) for g in groups) == [(0, 26, 3), (100, 110, 1)]


def test_box_geometry() -> None:
    box = Box(10, 20, 30, 25)
    assert (box.width, box.height) == (20, 5)
    assert box.grown(15, 40, 100) == Box(0, 5, 40, 40)
    assert Box(0, 0, 10, 10).overlaps(Box(9, 9, 12, 12))
    assert not Box(0, 0, 10, 10).overlaps(Box(10, 0, 12, 10))  # half-open: touching is not sharing
    assert Box(0, 0, 10, 10).contains(Box(2, 2, 10, 10))
    assert not Box(0, 0, 10, 10).contains(Box(2, 2, 11, 10))
