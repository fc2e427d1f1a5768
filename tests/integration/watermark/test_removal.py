"""Both methods on real ffmpeg: the logo is gone, the rest of the picture, the timing and the audio stay."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from mediacraft.worker_watermark.processor import process
from mediacraft.worker_watermark.regions import Region
from mediacraft.worker_watermark.windows import luma_windows
from tests.fixtures.media import probe
from tests.integration.watermark.conftest import BOX, HEIGHT, OPTIONS, WIDTH, JobRun, Sample, decode_luma, psnr


def _outside_windows() -> np.ndarray:
    """True where no inpaint window reaches (the padded window around the box)."""
    outside = np.ones((HEIGHT, WIDTH), dtype=bool)
    for box in luma_windows([Region(*BOX)], WIDTH, HEIGHT, radius=OPTIONS.default_radius, grow=OPTIONS.grow):
        outside[box.top : box.bottom, box.left : box.right] = False
    return outside


@pytest.mark.slow
@pytest.mark.parametrize("method", ["inpaint", "delogo"])
def test_the_logo_is_removed_and_the_rest_of_the_frame_is_untouched(
    method: str,
    sample_720p: Sample,
    job: Callable[[Path], JobRun],
) -> None:
    run = job(sample_720p.watermarked)
    result = process(run.context({"regions": [list(BOX)], "method": method, "selected_frame": 12}))

    x, y, w, h = BOX
    box = (slice(None), slice(y, y + h), slice(x, x + w))
    cleaned = decode_luma(result.path)
    assert cleaned.shape == sample_720p.clean_luma.shape  # every frame, at the source size
    before = psnr(sample_720p.clean_luma[box], sample_720p.watermarked_luma[box])
    after = psnr(sample_720p.clean_luma[box], cleaned[box])
    assert 10 <= before <= 16, f"the test clip should carry a visible box (~13 dB), got {before:.1f} dB"
    assert after >= 22, f"{method}: {after:.1f} dB inside the box after removal"

    outside = _outside_windows()
    untouched = psnr(sample_720p.plain_luma[:, outside], cleaned[:, outside])
    assert untouched >= 40, f"{method}: {untouched:.1f} dB outside the window against a plain re-encode"

    source, output = probe(sample_720p.watermarked), probe(result.path)
    assert abs(float(output["format"]["duration"]) - float(source["format"]["duration"])) <= 0.1
    audio = [s for s in output["streams"] if s["codec_type"] == "audio"]
    assert len(audio) == 1 and audio[0]["codec_name"] == "aac"
    assert abs(float(audio[0]["duration"]) - 2.0) <= 0.1

    assert result.path.parent.parent == run.workdir and result.filename == "cleaned.mp4"
    assert result.media is not None and (result.media.width, result.media.height) == (WIDTH, HEIGHT)
    assert result.media.has_audio
    assert result.info["method"] == method
    assert result.info["regions"] == [list(BOX)] and result.info["frames"] == 60
    assert result.info["selected_frame"] == 12

    fractions = [f for f, _ in run.reports]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert any(detail == method for _, detail in run.reports)  # frames done, reported while encoding


@pytest.mark.parametrize("method", ["quality", "speed"])
def test_odd_sized_matroska_with_overlapping_regions_becomes_an_mp4(
    method: str,
    odd_mkv: Path,
    job: Callable[[Path], JobRun],
) -> None:
    run = job(odd_mkv)
    # Two overlapping boxes, the second hanging over the right and bottom edges.
    regions = [[20, 20, 60, 30], [70, 30, 40, 20], [300, 220, 40, 40]]
    result = process(run.context({"regions": regions, "method": method, "inpaint_radius": 4}))

    output = probe(result.path)
    video = next(s for s in output["streams"] if s["codec_type"] == "video")
    audio = next(s for s in output["streams"] if s["codec_type"] == "audio")
    assert (video["width"], video["height"]) == (320, 240)  # x264 needs even 4:2:0 sizes
    assert video["codec_name"] == "h264" and audio["codec_name"] == "aac"  # Vorbis cannot go in MP4
    assert "mp4" in output["format"]["format_name"]
    assert abs(float(output["format"]["duration"]) - 1.0) <= 0.1
    assert result.info["regions"] == [[20, 20, 60, 30], [70, 30, 40, 20], [300, 220, 20, 20]]
    assert run.leftovers() == [result.path.parent.name, f"{result.path.parent.name}/cleaned.mp4"]


@pytest.mark.parametrize("method", ["inpaint", "delogo"])
def test_regions_are_in_the_upright_frame_of_a_rotated_video(
    method: str,
    rotated_mp4: Path,
    job: Callable[[Path], JobRun],
) -> None:
    run = job(rotated_mp4)
    # Row 250 exists only in the upright 180x320 frame that players show and ffmpeg decodes.
    result = process(run.context({"regions": [[40, 250, 100, 40]], "method": method}))
    video = next(s for s in probe(result.path)["streams"] if s["codec_type"] == "video")
    assert (video["width"], video["height"]) == (180, 320)
    assert result.info["regions"] == [[40, 250, 100, 40]]
