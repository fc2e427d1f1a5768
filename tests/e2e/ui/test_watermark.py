"""Remove watermark in the browser: upload, pick a frame, draw a box with the mouse, submit, watch the
task finish live, download the result; and a bad file answered with a message a person can read."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.ui.helpers import RECORD_STATUSES, api_data, expect, probe, task_card

# the box to draw, as fractions of the displayed frame (the clip's logo sits at 440,24 160x60 of 640x360)
DRAG_FROM = (0.68, 0.06)
DRAG_TO = (0.95, 0.25)
VIDEO_W, VIDEO_H = 640, 360


@pytest.mark.slow
def test_remove_a_watermark_drawn_on_the_preview_frame_and_download_the_result(
    page: Any, clips: dict[str, Path], tmp_path: Path
) -> None:
    page.evaluate(RECORD_STATUSES)
    page.set_input_files("#wm-file", str(clips["watermarked"]))

    frame = page.locator("#wm-frame-wrap")
    expect(frame).to_have_attribute("data-state", "ready")
    expect(page.locator("#wm-media")).to_contain_text("640 × 360")
    assert page.eval_on_selector("#wm-frame", "img => img.naturalWidth") > 0
    first_src = page.get_attribute("#wm-frame", "src")
    assert re.search(r"/preview\?t=", first_src or "")

    # another frame: the slider by keyboard, as anyone without a mouse would
    page.locator("#wm-time").press("End")
    expect(page.locator("#wm-frame")).not_to_have_attribute("src", first_src or "")
    expect(frame).to_have_attribute("data-state", "ready")
    expect(page.locator("#wm-time-out")).to_have_text(re.compile(r"^0:01\.9\d$"))

    box = page.locator("#wm-canvas").bounding_box()
    assert box is not None
    start = (box["x"] + box["width"] * DRAG_FROM[0], box["y"] + box["height"] * DRAG_FROM[1])
    end = (box["x"] + box["width"] * DRAG_TO[0], box["y"] + box["height"] * DRAG_TO[1])
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(*end, steps=8)
    page.mouse.up()
    expect(page.locator("#wm-regions li")).to_have_count(1)
    expect(page.locator("#wm-regions li")).to_contain_text("区域 1")
    page.screenshot(path=str(tmp_path / "watermark-region.png"), full_page=True)

    page.get_by_label("速度优先").check()
    page.get_by_role("button", name="开始去水印").click()
    expect(page.locator("#toasts")).to_contain_text("任务创建成功")
    expect(page.locator("#wm-editor")).to_be_hidden()  # the form is ready for the next video

    card = task_card(page, "clip with logo.mp4")
    expect(card).to_have_attribute("data-status", "completed", timeout=30_000)
    expect(card.locator(".task-status")).to_have_text("已完成")
    expect(card.locator(".task-type")).to_have_text("去水印")
    page.screenshot(path=str(tmp_path / "watermark-completed.png"), full_page=True)

    # it went there live: the same document throughout, through the states the stream reported
    assert page.evaluate("window.__sameDocument === true")
    task_id = card.get_attribute("data-task-id")
    seen = page.evaluate("id => window.__statuses[id]", task_id)
    assert seen[-1] == "completed" and len(seen) >= 2 and set(seen[:-1]) <= {"queued", "processing"}, seen

    # the rectangle reached the server in the video's own pixels
    task = api_data(page.request.get(f"/api/tasks/{task_id}/status"))
    assert task["config"]["method"] == "delogo"
    [(x, y, w, h)] = task["config"]["regions"]
    want = (
        DRAG_FROM[0] * VIDEO_W,
        DRAG_FROM[1] * VIDEO_H,
        (DRAG_TO[0] - DRAG_FROM[0]) * VIDEO_W,
        (DRAG_TO[1] - DRAG_FROM[1]) * VIDEO_H,
    )
    assert all(abs(got - exp) <= 3 for got, exp in zip((x, y, w, h), want, strict=True)), ((x, y, w, h), want)
    assert task["config"]["selected_frame"] > 0

    with page.expect_download() as info:
        card.get_by_role("link", name=re.compile("下载")).click()
    download = info.value
    assert download.suggested_filename.endswith(".mp4")
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    media = probe(saved)
    kinds = sorted(s["codec_type"] for s in media["streams"])
    assert kinds == ["audio", "video"]
    assert abs(float(media["format"]["duration"]) - 2.0) < 0.15


def test_a_file_that_is_not_a_video_gets_a_readable_message(page: Any, tmp_path: Path) -> None:
    fake = tmp_path / "holiday.mp4"
    fake.write_text("<!doctype html><html><body>not a video</body></html>")
    page.set_input_files("#wm-file", str(fake))
    alert = page.locator("#toasts [role=alert]")
    expect(alert).to_be_visible()
    expect(alert).to_contain_text(re.compile("不支持这种文件格式|无法读取这个文件"))
    expect(page.locator("#wm-editor")).to_be_hidden()
    expect(page.locator("#wm-file-name")).to_have_text("未选择文件")
    expect(page.locator("#wm-submit")).to_be_disabled()
