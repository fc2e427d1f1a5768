"""Find the watermark in the browser: upload, ask, see the proposals on the frame, accept one, submit,
download. The product runs in this process, so the watermark pool's detector is replaced by a
stand-in that answers the clip's known logo box (the detector's accuracy is the worker's suite's
business; this is the page's)."""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

import pytest

from mediacraft.worker_watermark import detect
from tests.e2e.ui.helpers import api_data, expect, probe, task_card

LOGO = (440, 24, 160, 60)  # where the clip's logo is (see conftest's clips)


@pytest.fixture
def detector(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The stand-in detector; returns the list of files it was asked about."""
    seen: list[Path] = []

    def fake(path: Path, *, cancel: threading.Event | None = None, progress: Any = None) -> detect.Detection:
        assert path.stat().st_size > 0
        seen.append(path)
        return detect.Detection(
            state="done", regions=(detect.DetectedRegion(box=LOGO, confidence=0.91),), message="Found 1 watermark"
        )

    monkeypatch.setattr(detect, "detect_watermarks", fake)
    return seen


@pytest.mark.slow
def test_detected_proposals_are_accepted_submitted_and_the_result_downloaded(
    page: Any, clips: dict[str, Path], detector: list[Path], tmp_path: Path
) -> None:
    page.set_input_files("#wm-file", str(clips["watermarked"]))
    expect(page.locator("#wm-frame-wrap")).to_have_attribute("data-state", "ready")
    expect(page.locator("#wm-submit")).to_be_disabled()  # nothing to clean yet

    page.get_by_role("button", name="自动查找水印").click()
    proposals = page.locator("#wm-proposals li")
    expect(proposals).to_have_count(1)
    expect(proposals.first).to_contain_text("建议 1：x 440，y 24，160 × 60 像素（可信度 91%）")
    expect(page.locator("#wm-detect-state")).to_have_attribute("data-state", "done")
    expect(page.locator("#wm-detect-state")).to_contain_text("找到 1 处可能的水印")
    assert len(detector) == 1
    page.screenshot(path=str(tmp_path / "watermark-proposals.png"), full_page=True)

    page.get_by_role("button", name="采用建议 1").click()
    expect(proposals).to_have_count(0)
    expect(page.locator("#wm-regions li")).to_have_count(1)
    expect(page.locator("#wm-regions li")).to_contain_text("区域 1：x 440，y 24，160 × 60 像素")

    page.get_by_label("速度优先").check()
    page.get_by_role("button", name="开始去水印").click()
    expect(page.locator("#toasts")).to_contain_text("任务创建成功")
    card = task_card(page, "clip with logo.mp4")
    expect(card).to_have_attribute("data-status", "completed", timeout=30_000)
    task = api_data(page.request.get(f"/api/tasks/{card.get_attribute('data-task-id')}/status"))
    assert task["config"]["regions"] == [list(LOGO)]
    assert task["detection"]["state"] == "done"

    with page.expect_download() as info:
        card.get_by_role("link", name=re.compile("下载")).click()
    saved = tmp_path / "clean.mp4"
    info.value.save_as(saved)
    assert sorted(s["codec_type"] for s in probe(saved)["streams"]) == ["audio", "video"]


@pytest.mark.slow
def test_a_proposal_can_be_adjusted_or_dismissed_and_drawing_still_works(
    page: Any, clips: dict[str, Path], detector: list[Path]
) -> None:
    page.set_input_files("#wm-file", str(clips["watermarked"]))
    expect(page.locator("#wm-frame-wrap")).to_have_attribute("data-state", "ready")
    page.get_by_role("button", name="自动查找水印").click()
    expect(page.locator("#wm-proposals li")).to_have_count(1)

    page.get_by_role("button", name="调整建议 1（填入下方数字）").click()
    expect(page.locator("#wm-proposals li")).to_have_count(0)
    expect(page.locator("#wm-x")).to_have_value("440")
    page.locator("#wm-w").fill("150")
    page.get_by_role("button", name="添加").click()
    expect(page.locator("#wm-regions li")).to_contain_text("区域 1：x 440，y 24，150 × 60 像素")

    page.get_by_role("button", name="自动查找水印").click()  # asking again brings the proposal back
    expect(page.locator("#wm-proposals li")).to_have_count(1)
    page.get_by_role("button", name="忽略建议 1").click()
    expect(page.locator("#wm-proposals li")).to_have_count(0)
    expect(page.locator("#wm-regions li")).to_have_count(1)
    assert len(detector) == 2
