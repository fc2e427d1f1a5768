"""Multi-frame matting of a translucent mark, and the inversion of its blend.

A translucent mark blends its colour W with opacity a over the picture I: J = aW + (1 - a)I,
with W and a the same in every frame (Dekel et al., CVPR 2017). Over many frames of moving
content the picture under a pixel takes the values its neighbours take, so per pixel:

    mean(J) = aW + (1 - a) mean(I)        std(J) = (1 - a) std(I)

The statistics of I at the mark's pixels are interpolated from the pixels around the mark
(spatial inpainting of the mean and spread images, which are smooth over moving content); that
gives (1 - a) and aW per pixel and per plane, in full colour (yuv, where the blend is affine as
in RGB). Recovery then inverts the blend, I = (J - aW) / (1 - a), on exactly the mark's pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from mediacraft.worker_watermark.regions import Region

Plane = npt.NDArray[np.uint8]
Float = npt.NDArray[np.float32]
_MIN_KEEP = 0.08  # smallest (1 - a) inverted: below it the picture is too faint to recover


@dataclass
class Matte:
    mask: Plane  # 255 on the mark's pixels, box-sized
    alpha: Float  # opacity per luma pixel, box-sized
    keep: tuple[Float, Float, Float]  # (1 - a) per plane
    offset: tuple[Float, Float, Float]  # aW per plane
    reliable: bool


def mark_pixels(edges: Plane) -> Plane:
    """The mark's pixels from its consistent edges: strokes closed, one pixel of halo."""
    closed = cv2.morphologyEx(edges, cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8))
    return np.asarray(cv2.dilate(closed, np.ones((3, 3), np.uint8), iterations=1), np.uint8)


def _plane_matte(stack: Float, mask: Plane, alpha: Float | None) -> tuple[Float, Float, Float, Float]:
    mean = stack.mean(axis=0).astype(np.float32)
    std = stack.std(axis=0).astype(np.float32)
    hole = cv2.dilate(mask, np.ones((3, 3), np.uint8))
    mean_i = cv2.inpaint(mean, hole, 5, cv2.INPAINT_TELEA)
    std_i = np.asarray(cv2.inpaint(std, hole, 5, cv2.INPAINT_TELEA), np.float32)
    if alpha is None:
        keep = np.clip(std / np.maximum(std_i, 1e-3), _MIN_KEEP, 1.0).astype(np.float32)
        keep = np.where(mask > 0, keep, 1.0).astype(np.float32)
    else:
        keep = (1.0 - alpha).astype(np.float32)
    offset = np.where(mask > 0, mean - keep * mean_i, 0.0).astype(np.float32)
    return keep, offset, std_i, (1.0 - keep).astype(np.float32)


def estimate_matte(crops: list[tuple[Plane, Plane, Plane]], edges: Plane) -> Matte:
    """The matte of the mark whose consistent edges are `edges`, from sampled yuv crops."""
    mask = mark_pixels(edges)
    y = np.stack([c[0] for c in crops]).astype(np.float32)
    keep_y, off_y, std_i, alpha = _plane_matte(y, mask, None)
    # the opacity is one per pixel: smooth its noise a little inside the mark only
    blurred = cv2.GaussianBlur(alpha * (mask > 0), (3, 3), 0)
    weight = cv2.GaussianBlur((mask > 0).astype(np.float32), (3, 3), 0)
    alpha = np.where(mask > 0, blurred / np.maximum(weight, 1e-3), 0.0).astype(np.float32)
    keep_y, off_y, _, _ = _plane_matte(y, mask, alpha)
    h2, w2 = mask.shape[0] // 2, mask.shape[1] // 2
    mask_c = np.where(cv2.resize(mask, (w2, h2), interpolation=cv2.INTER_AREA) > 0, 255, 0).astype(np.uint8)
    alpha_c = np.asarray(cv2.resize(alpha, (w2, h2), interpolation=cv2.INTER_AREA), np.float32)
    u = np.stack([c[1] for c in crops]).astype(np.float32)
    v = np.stack([c[2] for c in crops]).astype(np.float32)
    keep_u, off_u, _, _ = _plane_matte(u, mask_c, alpha_c)
    keep_v, off_v, _, _ = _plane_matte(v, mask_c, alpha_c)
    inside = mask > 0
    reliable = bool(inside.any() and np.median(std_i[inside]) > 4.0)
    return Matte(mask, alpha, (keep_y, keep_u, keep_v), (off_y, off_u, off_v), reliable)


def recover(planes: tuple[Plane, Plane, Plane], box: Region, mask: Plane, matte: Matte) -> None:
    """Invert the blend in place on the mark's pixels of one frame's planes; nothing else changes."""
    for k, plane in enumerate(planes):
        s = 1 if k == 0 else 2
        view = plane[box.y // s : box.y // s + box.h // s, box.x // s : box.x // s + box.w // s]
        keep, offset = matte.keep[k], matte.offset[k]
        where = mask > 0 if s == 1 else keep < 1.0
        j = view.astype(np.float32)
        clean = (j - offset) / np.maximum(keep, _MIN_KEEP)
        view[where] = np.clip(np.rint(clean[where]), 0, 255).astype(np.uint8)
