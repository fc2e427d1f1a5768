"""The processor with method auto and the regions left to detection."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mediacraft.shared.errors import InvalidInput
from mediacraft.shared.worker.contract import JobContext
from mediacraft.worker_watermark.processor import process
from tests.integration.watermark.quality.clips import render

pytestmark = [pytest.mark.slow]


def _context(tmp_path: Path, video: Path, config: dict[str, object]) -> JobContext:
    workdir = tmp_path / "job"
    workdir.mkdir()
    copy = workdir / "input.mp4"
    shutil.copyfile(video, copy)
    return JobContext(
        task_id="task-1", attempt=1, workdir=workdir, inputs=[copy], input_names=["upload.mp4"], config=config
    )


def test_regions_omitted_are_detected_and_auto_reports_its_choice(tmp_path: Path) -> None:
    clip = render(tmp_path / "clips", "pan", "box", "corner")
    result = process(_context(tmp_path, clip.marked, {"method": "auto"}))
    assert result.path.is_file()
    assert result.info["detection"]["state"] == "done"
    assert result.info["method"] == "auto"
    (choice,) = result.info["auto"]
    assert choice["chose"] == "fill"
    assert choice["box"] == result.info["regions"][0]


def test_nothing_found_fails_with_a_plain_non_retryable_error_and_leaves_only_the_inputs(tmp_path: Path) -> None:
    clip = render(tmp_path / "clips", "pan", "box", "corner")
    ctx = _context(tmp_path, clip.clean, {"method": "auto", "regions": "auto"})
    with pytest.raises(InvalidInput) as raised:
        process(ctx)
    assert raised.value.code == "no_watermark_found"
    assert "No watermark found" in str(raised.value)
    assert sorted(p.name for p in ctx.workdir.iterdir()) == ["input.mp4"]
