"""A new visitor: an empty queue in Chinese, an English toggle that sticks, an HttpOnly identity,
and a page that reads on a phone."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tests.e2e.ui.conftest import PHONE, watch_for_page_errors
from tests.e2e.ui.helpers import expect
from tests.fixtures.served_product import ServedProduct


def test_new_visitor_sees_an_empty_queue_in_chinese_and_can_switch_to_english(
    page: Any, context: Any, tmp_path: Path
) -> None:
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.get_by_role("tab")).to_have_text(["去水印", "视频合并", "生成", "创作", re.compile("任务列表")])
    expect(page.get_by_role("heading", name="我的任务列表")).to_be_visible()
    expect(page.locator("#queue-empty")).to_have_text("还没有任务。提交后可以关闭页面，稍后回来查看进度和结果。")
    expect(page.locator("#task-list li.task")).to_have_count(0)
    expect(page.get_by_role("button", name="清除已结束")).to_be_disabled()
    expect(page.locator("#live-state")).to_have_attribute("data-state", "live")
    page.screenshot(path=str(tmp_path / "first-visit-zh.png"), full_page=True)

    # the identity is an HttpOnly cookie: the browser sends it, scripts never see it
    cookies = [c for c in context.cookies() if c["name"] == "mc_uid"]
    assert len(cookies) == 1 and cookies[0]["httpOnly"] and cookies[0]["sameSite"] == "Lax"
    assert page.evaluate("document.cookie") == ""

    page.get_by_role("button", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("tab")).to_have_text(
        ["Remove watermark", "Merge videos", "Generate", "Create", re.compile("Tasks")]
    )
    expect(page.get_by_role("heading", name="My tasks")).to_be_visible()
    expect(page.locator("#queue-empty")).to_contain_text("No tasks yet.")
    expect(page.get_by_role("button", name="Clear finished")).to_be_visible()
    page.screenshot(path=str(tmp_path / "first-visit-en.png"), full_page=True)

    page.reload()  # the choice is remembered
    expect(page.get_by_role("tab", name="Remove watermark")).to_be_visible()
    page.get_by_role("button", name="中文").click()
    expect(page.get_by_role("tab", name="去水印")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")


def test_a_phone_shows_one_section_at_a_time_without_sideways_scrolling(
    browser: Any, product: ServedProduct, tmp_path: Path
) -> None:
    ctx = browser.new_context(base_url=product.url, viewport=PHONE, locale="zh-CN", has_touch=True)
    problems = watch_for_page_errors(ctx)
    try:
        page = ctx.new_page()
        page.goto("/")
        expect(page.locator("#queue")).to_have_attribute("data-loaded", "true")
        expect(page.locator("#panel-watermark")).to_be_visible()
        expect(page.locator("#queue")).to_be_hidden()
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

        page.get_by_role("tab", name="任务列表").click()
        expect(page.locator("#queue")).to_be_visible()
        expect(page.locator("#panel-watermark")).to_be_hidden()
        expect(page.locator("#queue-empty")).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        page.screenshot(path=str(tmp_path / "phone-tasks.png"), full_page=True)

        # tabs also follow the arrow keys
        page.get_by_role("tab", name="任务列表").press("ArrowLeft")
        expect(page.get_by_role("tab", name="创作")).to_have_attribute("aria-selected", "true")
        expect(page.locator("#panel-create")).to_be_visible()
        page.get_by_role("tab", name="创作").press("ArrowLeft")
        expect(page.get_by_role("tab", name="生成")).to_have_attribute("aria-selected", "true")
        expect(page.locator("#panel-generate")).to_be_visible()
    finally:
        ctx.close()
    assert not problems, problems
