"""Generate: after Generate the form is empty and ready within half a second, each request
becomes a task in the queue, and several in a row each queue; then hide and clear finished."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.e2e.ui.helpers import expect, task_card

READY_WITHIN_MS = 500
SUBMIT_FLOOR_MS = 2000  # the brief's promise for a submit to be answered


@pytest.mark.slow
def test_the_form_is_ready_again_at_once_and_every_request_queues(page: Any, tmp_path: Path) -> None:
    page.get_by_role("tab", name="生成").click()
    prompt = page.get_by_label("提示词", exact=True)
    negative = page.get_by_label("不希望出现的内容（可选）")
    seed = page.get_by_label("随机种子（可选）")
    generate = page.get_by_role("button", name="生成", exact=True)

    prompt.fill("a lighthouse at dawn")
    negative.fill("people")
    seed.fill("7")
    page.get_by_label("数量").fill("2")
    generate.click()
    expect(prompt).to_have_value("", timeout=READY_WITHIN_MS)
    expect(negative).to_have_value("", timeout=READY_WITHIN_MS)
    expect(seed).to_have_value("", timeout=READY_WITHIN_MS)
    expect(prompt).to_be_focused()
    expect(task_card(page, "a lighthouse at dawn")).to_be_visible(timeout=SUBMIT_FLOOR_MS)

    # a power user's variations, back to back: each one queues, none blocks the form
    variations = [f"a lighthouse at dawn, variation {n}" for n in range(1, 4)]
    for text in variations:
        prompt.fill(text)
        generate.click()
        expect(prompt).to_have_value("", timeout=READY_WITHIN_MS)
    for text in variations:
        expect(task_card(page, text)).to_be_visible(timeout=SUBMIT_FLOOR_MS)
    expect(page.locator("#task-list li.task")).to_have_count(4)
    page.screenshot(path=str(tmp_path / "generate-queued.png"), full_page=True)

    cards = page.locator("#task-list li.task")
    for i in range(4):
        expect(cards.nth(i)).to_have_attribute("data-status", "completed", timeout=30_000)
    expect(cards.locator(".task-type")).to_have_text(["生成图片"] * 4)
    expect(task_card(page, "a lighthouse at dawn").first).to_be_visible()

    # hide one, then clear the finished rest
    hidden = task_card(page, "variation 2")
    hidden.get_by_role("button", name="隐藏：a lighthouse at dawn, variation 2").click()
    expect(hidden).to_have_count(0)
    expect(cards).to_have_count(3)
    clear = page.get_by_role("button", name="清除已结束")
    assert "失败" in (clear.get_attribute("title") or "")  # it says what it hides
    clear.click()
    expect(page.locator("#toasts")).to_contain_text("已清除 3 个已结束的任务")
    expect(cards).to_have_count(0)
    # nothing lost by a click: undo brings them back, and the server agrees after a reload
    page.locator("#toasts").get_by_role("button", name="撤销").click()
    expect(cards).to_have_count(3)
    page.reload()
    expect(page.locator("#queue")).to_have_attribute("data-loaded", "true")
    expect(cards).to_have_count(3)
    page.get_by_role("button", name="清除已结束").click()
    expect(page.locator("#toasts")).to_contain_text("已清除 3 个已结束的任务")
    expect(cards).to_have_count(0)
    expect(page.locator("#queue-empty")).to_be_visible()

    # hidden tasks can be shown again, one by one
    page.get_by_text("已隐藏的任务").click()
    hidden = page.locator("#hidden-list li")
    expect(hidden).to_have_count(4)
    page.get_by_role("button", name="恢复显示：a lighthouse at dawn, variation 2").click()
    expect(hidden).to_have_count(3)
    expect(task_card(page, "variation 2")).to_have_attribute("data-status", "completed")
    expect(cards).to_have_count(1)
    hidden_card = task_card(page, "variation 2")
    hidden_card.get_by_role("button", name="隐藏：a lighthouse at dawn, variation 2").click()
    expect(hidden).to_have_count(4)
    page.reload()
    expect(page.locator("#queue")).to_have_attribute("data-loaded", "true")
    expect(cards).to_have_count(0)


def test_the_same_request_twice_is_announced_as_a_duplicate(page: Any) -> None:
    page.get_by_role("tab", name="生成").click()
    prompt = page.get_by_label("提示词", exact=True)
    generate = page.get_by_role("button", name="生成", exact=True)
    for _ in range(2):
        prompt.fill("a lighthouse, asked twice")
        generate.click()
        expect(prompt).to_have_value("", timeout=READY_WITHIN_MS)
    expect(page.locator("#toasts")).to_contain_text("同样的任务刚刚已经提交过", timeout=SUBMIT_FLOOR_MS)
    expect(task_card(page, "a lighthouse, asked twice")).to_have_count(1)


def test_a_generated_image_downloads_under_its_prompt_and_size(page: Any) -> None:
    page.get_by_role("tab", name="生成").click()
    page.get_by_label("尺寸").select_option(index=0)
    size = page.get_by_label("尺寸").input_value().replace(" ", "")
    names: list[str] = []
    for _ in range(2):  # the same prompt twice (the second a new request): two different names
        page.get_by_label("提示词", exact=True).fill("Waves at dusk")
        page.get_by_label("随机种子（可选）").fill(str(len(names) + 1))
        page.get_by_role("button", name="生成", exact=True).click()
        card = task_card(page, "Waves at dusk").first
        expect(card).to_have_attribute("data-status", "completed", timeout=30_000)
        with page.expect_download() as caught:
            card.get_by_role("link", name="下载：Waves at dusk").click()
        task_id = card.get_attribute("data-task-id") or ""
        names.append(caught.value.suggested_filename)
        assert caught.value.suggested_filename == f"waves-at-dusk-{size}-{task_id.replace('-', '')[:8]}.png"
        card.get_by_role("button", name="隐藏：Waves at dusk").click()
        expect(task_card(page, "Waves at dusk")).to_have_count(0)
    assert names[0] != names[1]
