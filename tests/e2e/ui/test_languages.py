"""Fully bilingual: a first visit follows the browser's languages, a saved choice wins after that,
and what the server says (refusals, task messages) reaches the page in the page's language."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mediacraft.shared.error_texts import sentence
from tests.e2e.ui.conftest import DESKTOP, watch_for_page_errors
from tests.e2e.ui.helpers import expect
from tests.fixtures.served_product import ServedProduct

CJK = re.compile(r"[\u4e00-\u9fff]")
NOT_A_VIDEO = {"name": "notes.mp4", "mimeType": "video/mp4", "buffer": b"just some words, not a video\n" * 50}


@pytest.fixture
def visitor(browser: Any, product: ServedProduct) -> Iterator[Any]:
    """Opens a new visitor's page with the given browser locale; its pages raise no script error."""
    opened: list[tuple[Any, list[str]]] = []

    def open_page(locale: str) -> Any:
        ctx = browser.new_context(base_url=product.url, viewport=DESKTOP, locale=locale)
        opened.append((ctx, watch_for_page_errors(ctx)))
        page = ctx.new_page()
        page.goto("/")
        expect(page.locator("body")).to_have_attribute("data-ready", "true")
        expect(page.locator("#queue")).to_have_attribute("data-loaded", "true")
        return page

    yield open_page
    for ctx, problems in opened:
        ctx.close()
        assert not problems, problems


def test_an_english_browser_lands_in_english_and_a_chinese_one_in_chinese(visitor: Any) -> None:
    english = visitor("en-US")
    expect(english.locator("html")).to_have_attribute("lang", "en")
    expect(english.get_by_role("tab", name="Tasks")).to_be_visible()
    expect(english.locator("#wm-file-name")).to_have_text("No file chosen")
    chinese = visitor("zh-CN")
    expect(chinese.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(chinese.get_by_role("tab", name="任务列表")).to_be_visible()
    expect(chinese.locator("#wm-file-name")).to_have_text("未选择文件")


def test_a_browser_speaking_neither_language_follows_the_servers_reading_of_accept_language(visitor: Any) -> None:
    page = visitor("fr-FR")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("tab", name="Tasks")).to_be_visible()


def test_a_saved_choice_wins_over_the_browsers_language_after_a_reload(visitor: Any) -> None:
    page = visitor("zh-CN")
    page.get_by_role("button", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.reload()
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    # every word on the page is English, the file label included (it once stayed 未选择文件)
    expect(page.locator("#wm-file-name")).to_have_text("No file chosen")
    visible = page.evaluate("document.body.innerText")
    assert not CJK.search(visible.replace("中文", "")), visible


def test_a_refused_upload_reads_fully_in_chinese(visitor: Any) -> None:
    page = visitor("zh-CN")
    page.set_input_files("#wm-file", NOT_A_VIDEO)
    toast = page.locator("#toasts .toast").last
    expect(toast.locator(".toast-title")).to_have_text(sentence("unsupported_format", "zh") or "")
    expect(toast.locator(".toast-detail")).to_have_count(0)  # no English detail below it


def test_a_refused_upload_reads_fully_in_english(visitor: Any) -> None:
    page = visitor("en-US")
    page.set_input_files("#wm-file", NOT_A_VIDEO)
    toast = page.locator("#toasts .toast").last
    expect(toast.locator(".toast-title")).to_have_text(sentence("unsupported_format", "en") or "")
    expect(toast.locator(".toast-detail")).to_contain_text("not a supported video")
    assert not CJK.search(page.locator("#toasts").inner_text())


def test_the_api_follows_the_pages_choice_not_the_browsers(visitor: Any, tmp_path: Path) -> None:
    page = visitor("zh-CN")
    page.get_by_role("button", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    with page.expect_response(re.compile(r"/api/tasks/.+/upload$")) as answer:
        page.set_input_files("#wm-file", NOT_A_VIDEO)
    body = answer.value.json()
    assert body["error_code"] == "unsupported_format" and not CJK.search(body["message"]), body
    assert answer.value.request.headers.get("accept-language") == "en"
    page.screenshot(path=str(tmp_path / "refused-en.png"))
