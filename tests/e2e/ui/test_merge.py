"""Merge videos in the browser: add two clips, put them in the order wanted (drag and buttons),
submit, and get one video of both, in that order."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.e2e.ui.helpers import api_data, expect, task_card


@pytest.mark.slow
def test_merge_two_clips_in_the_chosen_order(page: Any, clips: dict[str, Path], tmp_path: Path) -> None:
    page.get_by_role("tab", name="视频合并").click()
    submit = page.get_by_role("button", name="合并视频")
    expect(submit).to_be_disabled()
    page.set_input_files("#merge-files", [str(clips["first"]), str(clips["second"])])
    items = page.locator("#merge-list li")
    expect(items).to_have_count(2)
    expect(items.locator(".clip-name")).to_have_text(["first.mp4", "second.mp4"])

    # drag the second clip onto the first
    items.nth(1).drag_to(items.nth(0))
    expect(items.locator(".clip-name")).to_have_text(["second.mp4", "first.mp4"])
    # and with the buttons: down, then up again
    page.get_by_role("button", name="下移 second.mp4").click()
    expect(items.locator(".clip-name")).to_have_text(["first.mp4", "second.mp4"])
    page.get_by_role("button", name="上移 second.mp4").click()
    expect(items.locator(".clip-name")).to_have_text(["second.mp4", "first.mp4"])
    expect(page.get_by_role("button", name="上移 second.mp4")).to_be_disabled()
    page.screenshot(path=str(tmp_path / "merge-order.png"), full_page=True)

    expect(submit).to_be_enabled()
    submit.click()
    expect(page.locator("#toasts")).to_contain_text("任务创建成功")
    expect(items).to_have_count(0)  # emptied, ready for the next merge

    card = task_card(page, "second.mp4 → first.mp4")
    expect(card).to_have_attribute("data-status", "completed", timeout=30_000)
    expect(card.locator(".task-type")).to_have_text("视频合并")
    expect(card.get_by_role("link", name="下载：second.mp4 → first.mp4")).to_be_visible()

    task = api_data(page.request.get(f"/api/tasks/{card.get_attribute('data-task-id')}/status"))
    assert [i["original_name"] for i in task["inputs"]] == ["second.mp4", "first.mp4"]
    assert task["config"]["order"] == [0, 1]
    assert abs(task["result"]["media"]["duration"] - 3.0) < 0.15
