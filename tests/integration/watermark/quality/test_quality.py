"""Watermark quality on rendered clips with a ground truth: detection, and auto against inpaint.

Each clip is rendered once per session with and without its mark (`clips.render`); the printed
table gives PSNR and SSIM inside the mark's box against the clean render and outside it against a
plain re-encode of the marked clip at the worker's encoder settings.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from mediacraft.shared.media import MediaLimits, probe_media
from mediacraft.worker_watermark.auto import auto_video
from mediacraft.worker_watermark.bounds import RunBounds
from mediacraft.worker_watermark.detect import detect_watermarks
from mediacraft.worker_watermark.inpaint import inpaint_video
from mediacraft.worker_watermark.regions import Region
from tests.integration.watermark.quality.clips import Clip, H, W, render

pytestmark = [pytest.mark.slow]

BOUNDS = RunBounds(media=MediaLimits(), timeout=600, max_output_bytes=1 << 30, memory_limit=None, grace=1.0)
_cache: dict[tuple[str, str], dict[str, Any]] = {}


@pytest.fixture(scope="session")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("quality")


def decode(path: Path) -> np.ndarray:
    raw = subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"],
        check=True,
        capture_output=True,
    ).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, H, W, 3)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(255.0**2 / mse)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM over frames of the grey images (Gaussian window, the usual constants)."""
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    out = []
    for fa, fb in zip(a, b, strict=True):
        x = cv2.cvtColor(np.ascontiguousarray(fa), cv2.COLOR_RGB2GRAY).astype(np.float64)
        y = cv2.cvtColor(np.ascontiguousarray(fb), cv2.COLOR_RGB2GRAY).astype(np.float64)
        mx, my = cv2.GaussianBlur(x, (7, 7), 1.5), cv2.GaussianBlur(y, (7, 7), 1.5)
        sxx = cv2.GaussianBlur(x * x, (7, 7), 1.5) - mx * mx
        syy = cv2.GaussianBlur(y * y, (7, 7), 1.5) - my * my
        sxy = cv2.GaussianBlur(x * y, (7, 7), 1.5) - mx * my
        s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
        out.append(float(s.mean()))
    return float(np.mean(out))


def assert_outside_untouched(figures: dict[str, Any]) -> None:
    """Outside the box the result is as close to the source as a plain re-encode is (within 0.5 dB).

    Against the plain re-encode itself two x264 encodes of inputs that differ anywhere differ
    everywhere a little (motion-compensated prediction spreads the change): about 38-39 dB on
    these panning clips for today's inpaint as for auto, so 40 dB is not asserted there.
    """
    assert figures["psnr_out_source"] >= figures["psnr_out_ceiling"] - 0.5


def flicker(frames: np.ndarray) -> float:
    return float(np.mean(np.abs(np.diff(frames.astype(np.float32), axis=0))))


def iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def measure(folder: Path, clip: Clip, method: str) -> dict[str, Any]:
    """Clean `clip` with `method` over its true box (2 px of margin); the figures, printed."""
    key = (clip.name, method)
    if key in _cache:
        return _cache[key]
    source = probe_media(clip.marked, MediaLimits(), expect="video")
    x, y, w, h = clip.box
    region = Region(x - 2, y - 2, w + 4, h + 4)
    out = folder / f"{clip.name}.{method}.mp4"
    info: Any = None
    if method == "auto":
        _, info = auto_video(source, [region], out, bounds=BOUNDS)
    else:
        inpaint_video(source, [region], out, bounds=BOUNDS)
    plain = folder / f"{clip.name}.plain.mp4"
    if not plain.exists():
        # the plain re-encode: the same pipeline and encoder settings, nothing to clean
        auto_video(source, [], plain, bounds=BOUNDS)
    result, clean, reencoded, marked = decode(out), decode(clip.clean), decode(plain), decode(clip.marked)
    n = min(len(result), len(clean), len(reencoded), len(marked))
    result, clean, reencoded, marked = result[:n], clean[:n], reencoded[:n], marked[:n]
    box = (slice(None), slice(y, y + h), slice(x, x + w))
    outside = np.ones((H, W), bool)
    outside[max(0, y - 8) : y + h + 8, max(0, x - 8) : x + w + 8] = False
    figures = {
        "psnr_in": psnr(result[box], clean[box]),
        "ssim_in": ssim(result[box], clean[box]),
        "psnr_before": psnr(marked[box], clean[box]),
        "psnr_out": psnr(result[:, outside], reencoded[:, outside]),
        # what the encoder alone costs outside: the plain re-encode against the marked source
        "psnr_out_source": psnr(result[:, outside], marked[:, outside]),
        "psnr_out_ceiling": psnr(reencoded[:, outside], marked[:, outside]),
        "flicker": flicker(result[box]),
        "flicker_clean": flicker(clean[box]),
        "info": info,
    }
    print(
        f"\n{clip.name:22s} {method:8s} inside {figures['psnr_in']:.1f} dB ssim {figures['ssim_in']:.3f} "
        f"(before {figures['psnr_before']:.1f} dB) outside {figures['psnr_out']:.1f} dB "
        f"(vs source {figures['psnr_out_source']:.1f}, re-encode vs source {figures['psnr_out_ceiling']:.1f}) "
        f"flicker {figures['flicker']:.2f}/{figures['flicker_clean']:.2f} {info or ''}"
    )
    _cache[key] = figures
    return figures


MOVING_MARKED = [
    ("pan", "text", "corner"),
    ("pan", "colour", "middle"),
    ("pan", "box", "middle"),
    ("zoom", "text", "middle"),
    ("zoom", "box", "corner"),
]


@pytest.mark.parametrize(("motion", "mark", "where"), MOVING_MARKED)
def test_detection_finds_the_mark_on_moving_content(folder: Path, motion: str, mark: str, where: str) -> None:
    clip = render(folder, motion, mark, where)
    if mark == "colour":
        pytest.xfail("a translucent coloured logo is not found yet: its consistent gradients are too weak")
    found = detect_watermarks(clip.marked)
    assert found.state == "done", found.message
    best = max(iou(r.box, clip.box) for r in found.regions)
    assert best >= 0.8, (found.to_dict(), clip.box)


@pytest.mark.parametrize(("motion", "mark", "where"), MOVING_MARKED)
def test_detection_finds_nothing_on_the_same_clips_without_a_mark(
    folder: Path, motion: str, mark: str, where: str
) -> None:
    clip = render(folder, motion, mark, where)
    found = detect_watermarks(clip.clean)
    assert found.state == "nothing_found", found.to_dict()
    assert found.message


def test_detection_cannot_tell_on_a_static_shot(folder: Path) -> None:
    clip = render(folder, "static", "text", "corner")
    found = detect_watermarks(clip.marked)
    assert found.state == "cannot_tell"
    assert "does not move" in found.message


@pytest.mark.parametrize(("mark", "where"), [("text", "corner"), ("text", "middle"), ("colour", "middle")])
def test_auto_recovers_translucent_marks_over_panning_content(folder: Path, mark: str, where: str) -> None:
    clip = render(folder, "pan", mark, where)
    auto, inpaint = measure(folder, clip, "auto"), measure(folder, clip, "inpaint")
    assert auto["psnr_in"] >= 35.0
    assert auto["psnr_in"] > inpaint["psnr_in"]
    assert_outside_untouched(auto)
    assert abs(auto["flicker"] - auto["flicker_clean"]) <= 0.1 * auto["flicker_clean"]


@pytest.mark.parametrize("where", ["corner", "middle"])
def test_auto_fills_opaque_marks_over_panning_content(folder: Path, where: str) -> None:
    clip = render(folder, "pan", "box", where)
    auto, inpaint = measure(folder, clip, "auto"), measure(folder, clip, "inpaint")
    assert auto["psnr_in"] >= 30.0
    assert auto["psnr_in"] > inpaint["psnr_in"]
    assert_outside_untouched(auto)
    assert abs(auto["flicker"] - auto["flicker_clean"]) <= 0.1 * auto["flicker_clean"]
    assert auto["info"][0]["chose"] == "fill"


def test_auto_beats_inpaint_on_zooming_content(folder: Path) -> None:
    clip = render(folder, "zoom", "box", "middle")
    auto, inpaint = measure(folder, clip, "auto"), measure(folder, clip, "inpaint")
    assert auto["psnr_in"] > inpaint["psnr_in"]
    assert_outside_untouched(auto)


def test_auto_on_a_static_shot_is_no_worse_than_inpaint(folder: Path) -> None:
    clip = render(folder, "static", "box", "middle")
    auto, inpaint = measure(folder, clip, "auto"), measure(folder, clip, "inpaint")
    assert auto["psnr_in"] >= inpaint["psnr_in"] - 0.2
    assert auto["info"][0]["chose"] == "inpaint"
